import { formatDuration } from '../core/duration.js';
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
  try {
    for (;;) {
      const deployment = await ctx.cluster.getDeployment(target, name);
      const status = rolloutStatus(deployment);
      if (status.state !== 'progressing') {
        return { state: status.state, detail: status.text };
      }
      const elapsed = ctx.clock.now() - started;
      if (elapsed >= timeout) {
        return {
          state: 'timed out',
          detail: `still rolling out after ${formatDuration(timeout)}: ${status.text}`,
        };
      }
      if (status.text !== lastText) {
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
