import { z } from 'zod';
import { oneLine } from './text.js';
import { Reversal } from './undo.js';

export const AuditOutcome = z.enum([
  'executed',
  'noop',
  'failed',
  /** The change was sent and could not be confirmed either way (the cluster stopped answering). */
  'unknown',
  'denied',
  'refused',
  'approved',
  'expired',
  'requested',
  /** Verdicts: what an action did to its incident's alerts (a follow-up record, see `follows`). */
  'resolved',
  'unchanged',
  'worse',
]);
export type AuditOutcome = z.infer<typeof AuditOutcome>;

const Side = z.object({
  revision: z.number().optional(),
  images: z.array(z.string()).default([]),
  replicas: z.number().optional(),
});

/** One line of the audit trail: who did what, where, why, and how it ended. One file per record. */
export const AuditRecord = z.object({
  id: z.string().min(1),
  time: z.iso.datetime(),
  outcome: AuditOutcome,
  action: z.string(),
  requester: z.object({ id: z.string(), name: z.string().optional() }),
  approver: z.object({ id: z.string(), name: z.string().optional() }).optional(),
  environment: z.string().optional(),
  namespace: z.string().optional(),
  target: z.string().optional(),
  args: z.record(z.string(), z.unknown()).default({}),
  reason: z.string().optional(),
  before: Side.optional(),
  after: Side.optional(),
  /** What happened, in one line a person reads. For denials, the policy's reason. */
  message: z.string(),
  channel: z.object({ id: z.string(), name: z.string().optional() }).optional(),
  /** How the rollout the action started ended, as the bot last saw it. */
  rollout: z.object({ state: z.enum(['complete', 'failed', 'timed out']), detail: z.string() }).optional(),
  /** For approved actions: what was shown to the approver. */
  plan: z.array(z.string()).optional(),
  jobId: z.string().optional(),
  /** Break-glass: run without approval; a review issue is opened for it. */
  emergency: z.boolean().optional(),
  /** Where the target lives is a sandbox, not a real cluster. */
  sandbox: z.boolean().optional(),
  incident: z.object({ repo: z.string(), issue: z.number() }).optional(),
  /** The Kubernetes identity opsbot impersonated for this request, as the API server's audit log names it. */
  actingAs: z.object({ user: z.string(), groups: z.array(z.string()) }).optional(),
  /** The short id people type (`/ops undo <recordId>`); set on executed changes. */
  recordId: z.string().optional(),
  /** What the action replaced and what it left: how it is undone. */
  reversal: Reversal.optional(),
  /** For an undo: the record it reversed, and where that record is in the audit repository. */
  undoes: z.object({ recordId: z.string(), auditId: z.string(), path: z.string() }).optional(),
  /** An undo run with --force although the target had changed since the record: what had changed. */
  forced: z.array(z.string()).optional(),
  /** A follow-up record (a verdict): the record it is about. Records are never edited; they are followed. */
  follows: z.object({ id: z.string(), recordId: z.string().optional() }).optional(),
});
export type AuditRecord = z.infer<typeof AuditRecord>;

/**
 * `audit/2026/11/23/20261123T031502Z-rollback-prod-api-cmd-3f9a1c…-run-executed.json`: sorted by
 * time, readable at a glance, and ending in the whole record id, so that two records never share a
 * path: the second commit to a path is refused (GitHub's 422) and that record would never land.
 */
export function auditPath(
  dir: string,
  record: Pick<AuditRecord, 'id' | 'time' | 'action' | 'environment' | 'target'>,
): string {
  const t = record.time;
  const compact = t.replace(/[-:]/g, '').replace(/\.\d+/, '');
  const slug = [record.action, record.environment, record.target]
    .filter(Boolean)
    .join('-')
    .replace(/[^A-Za-z0-9.-]+/g, '-');
  const safeId = fileSafe(record.id);
  const prefix = dir.replace(/^\/+|\/+$/g, '');
  return `${prefix ? `${prefix}/` : ''}${t.slice(0, 4)}/${t.slice(5, 7)}/${t.slice(8, 10)}/${compact}-${slug}-${safeId}.json`;
}

/** Letters, digits and `-` as they are; any other character as `_<hex code>_`: distinct ids stay distinct. */
function fileSafe(id: string): string {
  return id.replace(/[^A-Za-z0-9-]/g, (c) => `_${c.codePointAt(0)?.toString(16)}_`);
}

/**
 * Subject, message and reason, each on one line: text from chat can never start a line of its own,
 * so it cannot add trailers such as `Co-authored-by:` or `Signed-off-by:` to the commit.
 */
export function auditCommitMessage(record: AuditRecord): string {
  const who = record.requester.name ? `@${record.requester.name}` : record.requester.id;
  const where = record.environment ? ` in ${record.environment}` : '';
  const what = [record.action, record.target].filter(Boolean).join(' ');
  const id = record.recordId ? ` (record ${record.recordId})` : '';
  const subject = oneLine(`${what}${where} by ${who}: ${record.outcome}${id}`);
  const reason = record.reason ? `\n\nReason: ${oneLine(record.reason)}` : '';
  return `${subject}\n\n${oneLine(record.message)}${reason}`;
}
