import type { AuditRecord } from '../core/audit.js';
import type { CommandJob, Person } from '../core/command-job.js';

/** The fields every record about a queued command shares. */
export function jobRecord(
  job: CommandJob,
  fields: Pick<AuditRecord, 'id' | 'outcome' | 'action' | 'message'> & Partial<AuditRecord>,
  now: number,
): AuditRecord {
  return {
    args: {},
    // A change kept in the ledger brings its own time: the record's path is derived from it.
    time: new Date(now).toISOString(),
    ...fields,
    requester: job.requester,
    ...(job.approver ? { approver: job.approver } : {}),
    channel: { id: job.channel.id, ...(job.channel.name ? { name: job.channel.name } : {}) },
    jobId: job.id,
    ...(job.incident ? { incident: job.incident } : {}),
  };
}

export function mention(person: Person): string {
  return person.name ? `@${person.name}` : `<@${person.id}>`;
}
