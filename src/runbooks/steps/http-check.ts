import { z } from 'zod';
import { Duration, formatDuration } from '../../core/duration.js';
import { UserInputError } from '../../core/errors.js';
import { hostAllowed, hostOf, referencesIn, Text } from '../../core/runbook.js';
import { slackText } from '../../core/text.js';
import { httpCheck as fetchStatus, HostRefused } from '../http-fetch.js';
import { StepFailed } from './step-failed.js';
import { defineStepKind } from './step-kind.js';

interface HttpCheckParams {
  url: string;
  expectStatus: number;
  timeout: number;
  /** The runbook's allowHosts: the only hosts the check and its redirects may reach. */
  allowHosts: string[];
}

/** Fails unless a URL answers the expected status in time; reaches only the hosts its runbook allows. */
export const httpCheck = defineStepKind<HttpCheckParams>({
  kind: 'http-check',
  description: 'Fail unless the URL answers expectStatus within timeout',
  fields: {
    url: Text,
    expectStatus: z.int().min(100).max(599).default(200),
    timeout: Duration.default(5_000),
  },
  plan(fields, _env, { runbook }) {
    const url = String(fields.url);
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      throw new UserInputError(`"${url}" is not an http(s) URL.`);
    if (new URL(url).username || new URL(url).password)
      throw new UserInputError(`"${hostOf(url)}": an http-check URL must not carry credentials.`);
    const allowHosts = runbook.allowHosts ?? [];
    // A host filled in from a parameter is checked here, once the run's values are known.
    if (!hostAllowed(allowHosts, hostOf(url))) {
      throw new UserInputError(
        `${runbook.name} may not check ${hostOf(url)}: its allowHosts ${allowHosts.length ? `are ${allowHosts.join(', ')}` : 'list no hosts'}.`,
      );
    }
    const expectStatus = Number(fields.expectStatus ?? 200);
    return {
      label: `Check ${url} answers ${expectStatus}`,
      params: { url, expectStatus, timeout: Number(fields.timeout ?? 5_000), allowHosts },
      mutates: false,
    };
  },
  checkStep(step, runbook, path) {
    const allowHosts = Array.isArray(runbook.allowHosts) ? runbook.allowHosts : [];
    if (allowHosts.length === 0) {
      return [
        {
          path: ['allowHosts'],
          message: 'a runbook with http-check steps must list the hosts they may reach in allowHosts',
        },
      ];
    }
    const url = typeof step.url === 'string' ? step.url : '';
    if (referencesIn(url).length > 0 || !URL.canParse(url) || hostAllowed(allowHosts, hostOf(url))) return [];
    return [
      { path: [...path, 'url'], message: `${hostOf(url)} is not in allowHosts (${allowHosts.join(', ')})` },
    ];
  },
  async preview(_ctx, step) {
    return [`Would expect ${step.params.expectStatus} from ${slackText(step.params.url)} (no request sent).`];
  },
  async run(_ctx, step) {
    const { url, expectStatus, timeout, allowHosts } = step.params;
    let answered: number;
    try {
      const res = await fetchStatus(url, {
        allowHosts,
        timeoutMs: timeout,
        // A step that expects a redirect sees it; any other follows it, within allowHosts only.
        followRedirects: expectStatus < 300 || expectStatus > 399,
      });
      answered = res.status;
    } catch (err) {
      const why =
        err instanceof HostRefused
          ? `refused: ${err.message}`
          : (err as Error).name === 'TimeoutError'
            ? `no answer within ${formatDuration(timeout)}`
            : 'unreachable';
      throw new StepFailed(`${url} ${why}.`);
    }
    if (answered !== expectStatus)
      throw new StepFailed(`${url} answered ${answered}, expected ${expectStatus}.`);
    return { detail: `${url} answered ${answered}.`, audit: { args: { url, status: answered } } };
  },
});
