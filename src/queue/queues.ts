import type { Logger } from 'pino';
import { AuditRecord } from '../core/audit.js';
import type { CommandJobInput } from '../core/command-job.js';
import { ExternalServiceError, OpsError, StateError } from '../core/errors.js';
import { FinalFailure, type JobAttempt } from '../engine/run-command.js';
import { failpoint } from '../failpoints.js';
import type { AuditLog, EnqueueResult, Jobs } from '../ports.js';
import { backoffDelay, type QueueBackend, RetryLater, type Task, Unrecoverable } from './backend.js';

export const COMMAND_ATTEMPTS = 5;
/** Audit records are retried for days rather than dropped; backoff is capped at 5 minutes. */
export const AUDIT_ATTEMPTS = 2_000;
const BUSY_RETRY_MS = 1_500;
/** A held record is retried at least this often, so it is written soon after access is restored. */
const HELD_RETRY_MAX_MS = 30_000;

/** GitHub refusing our credentials or access (401, 403, 404): an operator must act, the record waits. */
function waitsForAccess(err: unknown): err is ExternalServiceError {
  return err instanceof ExternalServiceError && [401, 403, 404].includes(err.status ?? 0);
}

export const QUEUES = { commands: 'commands', audit: 'audit', approvals: 'approvals' } as const;

/** Waits `ms`; false when the signal fired first. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve(!signal.aborted);
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

type Stored = Record<string, unknown> & { checkpoints?: Record<string, unknown> };

function attemptOf(task: Task<Stored>): JobAttempt {
  const { checkpoints, ...data } = task.data;
  return {
    data,
    attempt: task.attempt,
    maxAttempts: task.maxAttempts,
    checkpoints: checkpoints ?? {},
    saveCheckpoints: (next) => task.update({ ...data, checkpoints: next }),
  };
}

export interface CoreHandlers {
  log: Logger;
  runCommand(attempt: JobAttempt): Promise<unknown>;
  auditLog: AuditLog;
  expireApproval(approvalId: string): Promise<void>;
  /** Awaited before the record's task completes, so what it queues (an incident note) is never lost. */
  onAuditWritten?(record: AuditRecord, location: string): Promise<void>;
  /** A record the audit log refuses for now (credentials, access); it stays queued and is retried. */
  onAuditHeld?(record: AuditRecord, err: ExternalServiceError): void;
}

/**
 * The three queues behind every action, as producers: commands, audit records and approval
 * expiries. Task ids are idempotency keys, so a redelivered request or a retried enqueue adds nothing.
 * A web process only needs these; workers are started apart (processCoreQueues).
 */
export function createJobs(backend: QueueBackend): Jobs {
  const commands = backend.queue<Stored>(QUEUES.commands, { attempts: COMMAND_ATTEMPTS });
  const audit = backend.queue<unknown>(QUEUES.audit, { attempts: AUDIT_ATTEMPTS });
  const approvals = backend.queue<{ approvalId?: unknown }>(QUEUES.approvals, { attempts: 20 });
  return {
    async enqueueCommand(job: CommandJobInput): Promise<EnqueueResult> {
      const { duplicate } = await commands.add(job.id, job as Stored);
      return { jobId: job.id, duplicate };
    },
    async enqueueAudit(record: AuditRecord): Promise<EnqueueResult> {
      const { duplicate } = await audit.add(record.id, record, { keepFailed: true });
      return { jobId: record.id, duplicate };
    },
    async scheduleApprovalExpiry(approvalId: string, at: number): Promise<void> {
      await approvals.add(`expire-${approvalId}`, { approvalId }, { delayMs: Math.max(0, at - Date.now()) });
    },
  };
}

/** The workers of the three core queues: commands, audit records, approval expiries. */
export function processCoreQueues(backend: QueueBackend, handlers: CoreHandlers, concurrency = 8): void {
  const { log } = handlers;
  backend.process<Stored>(
    QUEUES.commands,
    async (task) => {
      try {
        return await handlers.runCommand(attemptOf(task));
      } catch (err) {
        // Waiting behind another action on the same target does not use up an attempt.
        if (err instanceof StateError && err.code === 'busy')
          throw new RetryLater(BUSY_RETRY_MS, err.message);
        if (err instanceof FinalFailure) throw new Unrecoverable(err.message, { cause: err.cause });
        throw err;
      }
    },
    { concurrency },
  );

  backend.process<unknown>(
    QUEUES.audit,
    async (task) => {
      const record = AuditRecord.safeParse(task.data);
      if (!record.success)
        throw new Unrecoverable(`invalid audit record ${task.id}: ${record.error.message}`);
      // Retried in place while the worker runs, so a record never overtakes an older one held up by an outage.
      for (let failures = 0; ; failures++) {
        try {
          failpoint('audit.before-write');
          const { location } = await handlers.auditLog.write(record.data);
          failpoint('audit.after-write');
          await handlers.onAuditWritten?.(record.data, location);
          return;
        } catch (err) {
          // Bad credentials or lost access hold the record (and those behind it) until fixed: never dropped.
          const held = waitsForAccess(err);
          if (err instanceof OpsError && !err.retryable && !held) {
            log.error(
              { err, record: record.data },
              'audit record REFUSED by the audit log; kept in the failed set until replayed',
            );
            throw new Unrecoverable(err.message, { cause: err });
          }
          const attempt = task.attempt + failures;
          const delayMs = held
            ? Math.min(backoffDelay(attempt, err), HELD_RETRY_MAX_MS)
            : backoffDelay(attempt, err);
          if (held) {
            handlers.onAuditHeld?.(record.data, err);
            log.warn(
              { err, recordId: record.data.id, attempt, delayMs },
              'audit record held: GitHub refuses our credentials or access; it stays queued and is retried',
            );
          } else {
            log.warn({ err, recordId: record.data.id, attempt, delayMs }, 'audit write failed; will retry');
          }
          // Without a shutdown signal (or once it fires) the queue's own backoff takes over.
          if (!task.signal || task.signal.aborted || !(await pause(delayMs, task.signal))) throw err;
        }
      }
    },
    // One at a time keeps the records of a target in the order they happened.
    { concurrency: 1 },
  );

  backend.process<{ approvalId?: unknown }>(
    QUEUES.approvals,
    async (task) => {
      if (typeof task.data.approvalId !== 'string') throw new Unrecoverable(`invalid expiry task ${task.id}`);
      await handlers.expireApproval(task.data.approvalId);
    },
    { concurrency: 4 },
  );
}
