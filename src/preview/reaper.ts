import type { Logger } from 'pino';
import type { OpsbotConfig } from '../config/schema.js';
import type { AuditRecord } from '../core/audit.js';
import { formatDuration } from '../core/duration.js';
import { message } from '../core/message.js';
import {
  ANNOTATIONS,
  PREVIEW_SELECTOR,
  type PreviewEnv,
  planReaper,
  previewFromNamespace,
} from '../core/preview.js';
import { resolveTarget } from '../engine/run-command.js';
import type { Chat, Clock, Jobs, Workspaces } from '../ports.js';

export interface ReaperDeps {
  config: OpsbotConfig;
  workspaces: Workspaces;
  chat: Chat;
  jobs: Pick<Jobs, 'enqueueAudit'>;
  clock: Clock;
  log: Logger;
}

export interface ReaperResult {
  expired: string[];
  warned: string[];
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The owner hears where they opened it; without a recorded channel, in a direct message. */
const whereToTell = (env: PreviewEnv) => env.channel ?? env.owner;

/**
 * One pass of the reaper. It reads every preview from the cluster's labels (so it needs nothing
 * Redis remembered), deletes what has expired, and warns once per expiry about what expires soon.
 */
export async function reapPreviews(deps: ReaperDeps): Promise<ReaperResult> {
  const cfg = deps.config.preview;
  const result: ReaperResult = { expired: [], warned: [] };
  if (!cfg) return result;
  const target = resolveTarget(deps.config, cfg.environment);
  const namespaces = await deps.workspaces.listNamespaces(target.context, PREVIEW_SELECTOR);
  const envs = namespaces.flatMap((ns) => previewFromNamespace(ns) ?? []);
  const now = deps.clock.now();
  const plan = planReaper(envs, now, cfg.warnBefore);

  for (const env of plan.expire) {
    try {
      await deps.workspaces.deleteNamespace(target.context, env.namespace);
      const text = `Preview ${env.name} expired at ${iso(env.expiresAt)}; namespace ${env.namespace} was deleted.`;
      const record: AuditRecord = {
        // One record per expiry, however often the reaper runs.
        id: `preview-expired-${env.namespace}-${Math.floor(env.expiresAt / 1000)}`,
        time: new Date(now).toISOString(),
        outcome: 'expired',
        action: 'env.expire',
        requester: { id: env.owner, ...(env.ownerName ? { name: env.ownerName } : {}) },
        environment: cfg.environment,
        namespace: env.namespace,
        target: env.name,
        args: { expiresAt: iso(env.expiresAt), ...(env.url ? { url: env.url } : {}) },
        message: text,
        ...(env.channel ? { channel: { id: env.channel } } : {}),
      };
      await deps.jobs.enqueueAudit(record);
      await deps.chat.post(
        whereToTell(env),
        message(text, {
          lines: [
            `:wastebasket: <@${env.owner}> your preview *${env.name}* expired at ${iso(env.expiresAt)} and was deleted. Open it again with \`/ops env open ${env.name}\`.`,
          ],
        }),
      );
      result.expired.push(env.name);
      deps.log.info({ preview: env.name, namespace: env.namespace }, 'preview expired and deleted');
    } catch (err) {
      deps.log.warn({ err, preview: env.name }, 'could not reap an expired preview; next pass retries');
    }
  }

  for (const env of plan.warn) {
    try {
      const left = formatDuration(env.expiresAt - now);
      const text = `Preview ${env.name} expires in ${left}.`;
      await deps.chat.post(
        whereToTell(env),
        message(text, {
          lines: [
            `:alarm_clock: <@${env.owner}> your preview *${env.name}*${env.url ? ` (${env.url})` : ''} expires in ${left}, at ${iso(env.expiresAt)}.`,
          ],
          buttons: [
            {
              action: 'preview.extend',
              label: `Extend by ${formatDuration(cfg.ttl)}`,
              value: env.name,
              style: 'primary',
            },
          ],
        }),
      );
      // Remembered on the namespace, so neither the next pass nor a restarted bot warns again.
      await deps.workspaces.patchNamespace(target.context, env.namespace, {
        annotations: { [ANNOTATIONS.warnedFor]: String(Math.floor(env.expiresAt / 1000)) },
      });
      result.warned.push(env.name);
      deps.log.info({ preview: env.name, expiresAt: iso(env.expiresAt) }, 'preview expiry warned');
    } catch (err) {
      deps.log.warn({ err, preview: env.name }, 'could not warn about a preview expiry; next pass retries');
    }
  }
  return result;
}
