import type { Logger } from 'pino';
import { z } from 'zod';
import type { OpsbotConfig } from '../config/schema.js';
import { AuditRecord } from '../core/audit.js';
import { ExternalServiceError } from '../core/errors.js';
import type { Incident } from '../core/incident.js';
import { message } from '../core/message.js';
import { decideVerdict, Verdict, verdictLine } from '../core/verdict.js';
import type { Chat, Clock, Jobs } from '../ports.js';
import { type QueueBackend, RetryLater, type TaskQueue, Unrecoverable } from '../queue/backend.js';
import type { IncidentStore } from './store.js';

type IncidentsConfig = NonNullable<OpsbotConfig['incidents']>;

export const VERIFY_QUEUE = 'incident-verify';

/** One watch: kept as the task's data, so a restarted worker carries on where the last one was. */
export const VerifyTask = z.object({
  /** The audit record of the action being judged. */
  record: AuditRecord,
  incidentId: z.string().min(1),
  /** When the action ran (ms); the window counts from here. */
  startedAt: z.number(),
  /** Alerts firing at the first check; saved so every later check compares against the same set. */
  baseline: z.array(z.string()).optional(),
  /** Saved before any effect, so a retried task repeats the same verdict, never a second one. */
  decided: z.object({ verdict: Verdict, at: z.number(), firing: z.int() }).optional(),
  posted: z.boolean().default(false),
});
export type VerifyTask = z.infer<typeof VerifyTask>;

/** The fields of Alertmanager's GettableAlert that the verdict uses (api/v2/openapi.yaml, definitions.gettableAlert). */
const GettableAlerts = z.array(
  z.object({
    fingerprint: z.string(),
    labels: z.record(z.string(), z.string()),
    status: z.object({ state: z.string() }),
  }),
);

/** Where the alerts firing now come from: Alertmanager's API when configured, else the incident's own record. */
export interface FiringAlerts {
  firing(incident: Incident): Promise<string[]>;
}

/** The alerts the incident record holds as firing: what the sources' resolve notifications left. */
export const incidentRecordAlerts: FiringAlerts = {
  async firing(incident) {
    return Object.entries(incident.alerts)
      .filter(([, alert]) => alert.status === 'firing')
      .map(([fingerprint]) => fingerprint);
  },
};

/**
 * Alertmanager API v2: `GET /api/v2/alerts` with one `filter` matcher per label (a repeated query
 * parameter of matcher strings, api/v2/openapi.yaml), active and neither silenced nor inhibited.
 */
export class AlertmanagerAlerts implements FiringAlerts {
  constructor(
    private readonly url: string,
    private readonly groupLabels: (incident: Incident) => Record<string, string>,
    private readonly fallback: FiringAlerts = incidentRecordAlerts,
  ) {}

  async firing(incident: Incident): Promise<string[]> {
    // Only Alertmanager's incidents are in Alertmanager; Grafana's and PagerDuty's use their resolves.
    if (!incident.sources.some((s) => s.id === 'alertmanager') && incident.source !== 'alertmanager')
      return this.fallback.firing(incident);
    const query = new URLSearchParams({ active: 'true', silenced: 'false', inhibited: 'false' });
    for (const [name, value] of Object.entries(this.groupLabels(incident)))
      query.append('filter', `${name}=${JSON.stringify(value)}`);
    const url = `${this.url.replace(/\/+$/, '')}/api/v2/alerts?${query}`;
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new ExternalServiceError('alertmanager', `Alertmanager did not answer ${url}`, {
        retryable: true,
        cause: err,
      });
    }
    if (!res.ok)
      throw new ExternalServiceError('alertmanager', `Alertmanager answered ${res.status} to ${url}`, {
        status: res.status,
        retryable: res.status >= 500 || res.status === 429,
      });
    const alerts = GettableAlerts.parse(await res.json());
    return alerts.filter((a) => a.status.state === 'active').map((a) => a.fingerprint);
  }
}

export interface VerifyDeps {
  settings: IncidentsConfig;
  store: IncidentStore;
  alerts: FiringAlerts;
  jobs: Pick<Jobs, 'enqueueAudit'>;
  chat: Pick<Chat, 'post'>;
  clock: Clock;
  log: Logger;
}

/** What the action was, in a few words: "rollback api in staging". */
function actionText(record: AuditRecord): string {
  return [record.action, record.target, record.environment ? `in ${record.environment}` : '']
    .filter(Boolean)
    .join(' ');
}

/**
 * The follow-up audit record: a new record linking the action's, with the verdict as its outcome.
 * Built field by field: copying the action's would copy its jobId, approver or emergency flag too.
 */
export function verdictRecord(record: AuditRecord, verdict: Verdict, at: number, line: string): AuditRecord {
  return {
    id: `verdict-${record.id}`,
    time: new Date(at).toISOString(),
    outcome: verdict,
    action: `verify ${record.action}`,
    requester: { id: 'opsbot', name: 'opsbot' },
    ...(record.environment ? { environment: record.environment } : {}),
    ...(record.namespace ? { namespace: record.namespace } : {}),
    ...(record.target ? { target: record.target } : {}),
    args: {},
    message: line,
    ...(record.channel ? { channel: record.channel } : {}),
    ...(record.incident ? { incident: record.incident } : {}),
    ...(record.sandbox ? { sandbox: record.sandbox } : {}),
    follows: { id: record.id, ...(record.recordId ? { recordId: record.recordId } : {}) },
  };
}

/**
 * One check of a watch: decides when it can, else asks to be run again in `every`. Each effect is
 * checkpointed in the task's data, so retries and restarts give exactly one verdict per action.
 */
export async function checkVerdict(
  deps: VerifyDeps,
  task: { id: string; data: unknown; update(data: VerifyTask): Promise<void> },
): Promise<void> {
  const parsed = VerifyTask.safeParse(task.data);
  if (!parsed.success) throw new Unrecoverable(`invalid verify task ${task.id}`);
  const data = parsed.data;
  const { window, every } = deps.settings.verify;
  if (!data.decided) {
    const incident = await deps.store.get(data.incidentId);
    if (!incident) return;
    const firing = await deps.alerts.firing(incident);
    if (!data.baseline) {
      // Nothing firing when the action ran: there is nothing for it to fix, so no verdict.
      if (firing.length === 0) {
        deps.log.info({ record: data.record.id }, 'no alerts firing after the action; no verdict');
        return;
      }
      data.baseline = firing;
      await task.update(data);
      throw new RetryLater(every, 'watching the incident after an action');
    }
    const now = deps.clock.now();
    const verdict = decideVerdict({
      baseline: data.baseline,
      firing,
      windowEnded: now >= data.startedAt + window,
    });
    if (!verdict) throw new RetryLater(every, 'watching the incident after an action');
    data.decided = { verdict, at: now, firing: firing.length };
    await task.update(data);
  }
  const { verdict, at, firing } = data.decided;
  const line = verdictLine({
    verdict,
    action: actionText(data.record),
    afterMs: Math.max(0, at - data.startedAt),
    windowMs: window,
    firing,
  });
  // The audit record goes first: its id makes it idempotent, and it also comments on the incident's issue.
  await deps.jobs.enqueueAudit(verdictRecord(data.record, verdict, at, line));
  if (!data.posted && data.record.channel) {
    const icon = { resolved: ':white_check_mark:', unchanged: ':hourglass:', worse: ':x:' }[verdict];
    await deps.chat.post(data.record.channel.id, message(line, { lines: [`${icon} ${line}`] }));
    data.posted = true;
    await task.update(data);
  }
}

/** The queue of watches; a watch's id is its action's record id, so an action is watched once. */
export function defineVerifyQueue(backend: QueueBackend, deps: VerifyDeps): TaskQueue<VerifyTask> {
  return backend.define<VerifyTask>(VERIFY_QUEUE, (task) => checkVerdict(deps, task), {
    concurrency: 4,
    attempts: 20,
  });
}

/**
 * Starts watching the incident after an action, unless it is already watched. An action taken
 * outside the incident's channel is judged there and on its issue all the same.
 */
export async function watchAfterAction(
  queue: TaskQueue<VerifyTask>,
  record: AuditRecord,
  incident: Incident,
  repo: string,
): Promise<void> {
  const channel = incident.channelId
    ? { id: incident.channelId, ...(incident.channelName ? { name: incident.channelName } : {}) }
    : record.channel;
  const onIssue = record.incident ?? (incident.issue ? { repo, issue: incident.issue } : undefined);
  await queue.add(`verify-${record.id}`, {
    record: { ...record, ...(channel ? { channel } : {}), ...(onIssue ? { incident: onIssue } : {}) },
    incidentId: incident.id,
    startedAt: Date.parse(record.time),
    posted: false,
  });
}
