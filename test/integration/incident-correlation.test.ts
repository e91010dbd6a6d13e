import { createHash } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import { WebClient } from '@slack/web-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IncidentService } from '../../src/alerts/incident-service.js';
import { sourceById } from '../../src/alerts/sources/index.js';
import { MemoryIncidentStore } from '../../src/alerts/store.js';
import { OpsbotConfig } from '../../src/config/schema.js';
import type { AlertGroup } from '../../src/core/alert.js';
import { GitHubIssueTracker } from '../../src/github/issue-tracker.js';
import { createLogger } from '../../src/logger.js';
import { RetryLater } from '../../src/queue/backend.js';
import { MemoryLocks } from '../../src/queue/memory-state.js';
import { SlackIncidentChat } from '../../src/slack/incident-chat.js';
import { type GitHubFake, startGitHubFake } from '../fakes/github.js';
import { type SlackFake, startSlackFake } from '../fakes/slack.js';
import { alertFixture, INCIDENT_REPO } from '../helpers/alerts.js';

type Json = Record<string, unknown>;

/** A webhook body through its registered source, as the receiver hands it to the queue. */
function group(sourceId: string, body: unknown, receivedAt: number): AlertGroup {
  const parsed = sourceById(sourceId)?.parse(body, receivedAt);
  if (!parsed?.ok || !('group' in parsed)) throw new Error(`${sourceId}: no alert group`);
  return parsed.group;
}

/** Alertmanager's PagerDuty integration: dedup_key is the SHA-256 hex of the group key (notify/pagerduty, key.Hash()). */
function pagerDutyFor(fixture: string, alertmanagerGroupKey: string): Json {
  const body = alertFixture<{ event: { data: Json } }>(fixture);
  body.event.data.incident_key = createHash('sha256').update(alertmanagerGroupKey).digest('hex');
  return body;
}

/** A Grafana-managed rule on the same problem: the same alertname, env and deployment labels. */
function grafanaSameProblem(): Json {
  const body = alertFixture<{ commonLabels: Json; alerts: { labels: Json }[] } & Json>('grafana-firing.json');
  const labels = { alertname: 'HighErrorRate', env: 'prod', deployment: 'api', grafana_folder: 'api' };
  body.commonLabels = { ...body.commonLabels, ...labels };
  for (const a of body.alerts) a.labels = { ...a.labels, ...labels };
  return body;
}

describe('one incident across sources', () => {
  let slack: SlackFake;
  let github: GitHubFake;
  let now: number;
  let service: IncidentService;
  let syncs: string[];

  beforeEach(async () => {
    slack = await startSlackFake({ botToken: 'xoxb-corr' });
    github = await startGitHubFake({ token: 'ghp_corr' });
    github.createRepo(INCIDENT_REPO, { files: { 'README.md': '# incidents\n' } });
    now = Date.parse('2026-11-23T10:00:30Z');
    syncs = [];
    service = new IncidentService({
      config: OpsbotConfig.parse({
        environments: { prod: { context: 'prod', namespace: 'apps' } },
        audit: { repo: 'acme/ops-audit' },
        incidents: { repo: INCIDENT_REPO, correlation: { window: '10m' } },
      }),
      store: new MemoryIncidentStore(),
      locks: new MemoryLocks(),
      clock: { now: () => now },
      log: createLogger('silent'),
      chat: new SlackIncidentChat(
        new WebClient('xoxb-corr', { slackApiUrl: slack.url, retryConfig: { retries: 0 } }),
      ),
      issues: new GitHubIssueTracker(new Octokit({ auth: 'ghp_corr', baseUrl: github.url })),
      runbooks: [],
      syncQueue: () => ({
        add: async (_id, data) => {
          syncs.push(data.id);
          return { duplicate: false };
        },
      }),
      archiveQueue: () => ({ add: async () => ({ duplicate: false }) }),
    });
  });

  afterEach(async () => {
    await Promise.all([slack.close(), github.close()]);
  });

  const drain = async () => {
    for (let i = 0; syncs.length > 0 && i < 100; i++) {
      now += 1_200;
      try {
        await service.sync(syncs.shift()!, `t${i}`);
      } catch (err) {
        if (!(err instanceof RetryLater)) throw err;
      }
    }
  };
  const channels = () => slack.channels().filter((c) => c.name.startsWith('inc-'));
  const issues = () => github.issues(INCIDENT_REPO);
  const summaryOf = (channel: string) =>
    JSON.stringify(slack.messages(channel).find((m) => m.text?.startsWith('Incident:'))?.blocks ?? []);

  it('joins the PagerDuty incident whose incident_key is the Alertmanager dedup_key: one channel, one issue, both resolves count', async () => {
    const firing = alertFixture<{ groupKey: string }>('alertmanager-firing.json');
    await service.handleGroup(group('alertmanager', firing, now), 'am-1');
    await drain();
    await service.handleGroup(
      group('pagerduty', pagerDutyFor('pagerduty-triggered.json', firing.groupKey), now),
      'pd-1',
    );
    await drain();

    expect(channels()).toHaveLength(1);
    expect(issues()).toHaveLength(1);
    const channel = channels()[0]!;
    const summary = summaryOf(channel.id);
    expect(summary).toContain('source alertmanager + pagerduty');
    expect(summary).toContain('https://acme.pagerduty.com/incidents/PGR0VU2');
    expect(issues()[0]?.body).toContain('**Source:** alertmanager + pagerduty');
    expect(issues()[0]?.body).toContain('(https://acme.pagerduty.com/incidents/PGR0VU2)');
    expect(
      slack.messages(channel.id).some((m) => m.text?.includes('PagerDuty reports the same problem')),
    ).toBe(true);

    // Alertmanager resolves; PagerDuty still has it open: so does opsbot.
    await service.handleGroup(group('alertmanager', alertFixture('alertmanager-resolved.json'), now), 'am-2');
    await drain();
    expect((await service.lookup(channel.id))?.incident.status).toBe('open');
    // PagerDuty's resolve is the last source's resolve.
    await service.handleGroup(
      group('pagerduty', pagerDutyFor('pagerduty-resolved.json', firing.groupKey), now),
      'pd-2',
    );
    await drain();
    expect((await service.lookup(channel.id))?.incident.status).toBe('resolved');
    expect(issues()[0]?.state).toBe('closed');
    expect(channels()).toHaveLength(1);
    expect(issues()).toHaveLength(1);
  });

  it('keeps a PagerDuty incident with another incident_key apart', async () => {
    await service.handleGroup(group('alertmanager', alertFixture('alertmanager-firing.json'), now), 'am-1');
    await service.handleGroup(group('pagerduty', alertFixture('pagerduty-triggered.json'), now), 'pd-1');
    await drain();
    expect(channels()).toHaveLength(2);
    expect(issues()).toHaveLength(2);
  });

  it('joins Grafana and Alertmanager alerts on alertname, env and deployment within the window', async () => {
    await service.handleGroup(group('alertmanager', alertFixture('alertmanager-firing.json'), now), 'am-1');
    await drain();
    now += 5 * 60_000;
    await service.handleGroup(group('grafana', grafanaSameProblem(), now), 'gf-1');
    await drain();
    expect(channels()).toHaveLength(1);
    expect(issues()).toHaveLength(1);
    expect(summaryOf(channels()[0]!.id)).toContain('source alertmanager + grafana');
    expect(issues()[0]?.body).toContain('**Source:** alertmanager + grafana');
  });

  it('opens a second incident for the same labels after the window, or for another deployment', async () => {
    await service.handleGroup(group('alertmanager', alertFixture('alertmanager-firing.json'), now), 'am-1');
    await drain();
    const other = grafanaSameProblem();
    for (const a of other.alerts as { labels: Json }[]) a.labels.deployment = 'web';
    (other.commonLabels as Json).deployment = 'web';
    await service.handleGroup(group('grafana', other, now), 'gf-web');
    await drain();
    expect(channels()).toHaveLength(2);
    now += 11 * 60_000;
    const late = grafanaSameProblem();
    late.groupKey = '{}/{}:{alertname="HighErrorRate", grafana_folder="api"}';
    await service.handleGroup(group('grafana', late, now), 'gf-late');
    await drain();
    expect(channels()).toHaveLength(3);
    expect(issues()).toHaveLength(3);
  });
});
