import { formatDuration } from '../core/duration.js';
import { OpsError, userMessageOf } from '../core/errors.js';
import { type Message, message } from '../core/message.js';
import { rolloutStatus } from '../core/rollout-status.js';
import type { ClusterTarget } from '../ports.js';
import { coalesce } from './coalesce.js';
import type { RunContext } from './command-module.js';

export interface RolloutResult {
  state: 'complete' | 'failed' | 'timed out';
  detail: string;
}

const UPDATE_INTERVAL_MS = 1_100;

/**
 * Follows a rollout the way `kubectl rollout status` does, keeping the job's one message up to
 * date (coalesced to respect Slack's per-channel rate), until it completes, fails or times out.
 * A transient read error (a 503, a dropped connection) is waited out like kubectl's watch does:
 * the change is already applied, so one bad answer must not turn it into a failure.
 */
export async function watchRollout(
  ctx: RunContext,
  target: ClusterTarget,
  name: string,
  header: string[],
): Promise<RolloutResult> {
  const { timeout, pollInterval } = ctx.config.rollout;
  const started = ctx.clock.now();
  const updates = coalesce((msg: Message) => ctx.progress(msg), UPDATE_INTERVAL_MS);
  let lastText = '';
  let lastError: unknown;
  try {
    for (;;) {
      let status: ReturnType<typeof rolloutStatus> | undefined;
      try {
        status = rolloutStatus(await ctx.cluster.getDeployment(target, name));
        lastError = undefined;
      } catch (err) {
        if (err instanceof OpsError && !err.retryable) throw err;
        lastError = err;
      }
      if (status && status.state !== 'progressing') {
        return { state: status.state, detail: status.text };
      }
      const elapsed = ctx.clock.now() - started;
      if (elapsed >= timeout) {
        return {
          state: 'timed out',
          detail: status
            ? `still rolling out after ${formatDuration(timeout)}: ${status.text}`
            : `the rollout could not be read when the watch ended after ${formatDuration(timeout)}: ${userMessageOf(lastError)}`,
        };
      }
      if (status && status.text !== lastText) {
        lastText = status.text;
        updates.push(
          message(`${name}: ${status.text}`, {
            lines: [...header, `:hourglass_flowing_sand: ${status.text}`],
          }),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollInterval, timeout - elapsed)));
    }
  } finally {
    await updates.cancel();
  }
}

export function rolloutLine(result: RolloutResult): string {
  const icon =
    result.state === 'complete' ? ':white_check_mark:' : result.state === 'failed' ? ':x:' : ':warning:';
  return `${icon} Rollout ${result.state}: ${result.detail}`;
}
