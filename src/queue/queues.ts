import { DelayedError, type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AuditRecord } from '../core/audit.js';
import { ExternalServiceError, OpsError, StateError } from '../core/errors.js';
import type { CommandJobInput } from '../engine/command-job.js';
import { FinalFailure, type JobAttempt } from '../engine/run-command.js';
import type { AuditLog, EnqueueResult, Jobs } from '../ports.js';

export const COMMAND_ATTEMPTS = 5;
/** Audit records are retried for days rather than dropped; a 5-minute cap keeps retries polite. */
export const AUDIT_ATTEMPTS = 2_000;
const MAX_BACKOFF_MS = 5 * 60_000;
const BUSY_RETRY_MS = 1_500;
const KEEP_COMPLETED = { age: 24 * 3600 };

export interface QueueNames {
  commands: string;
  audit: string;
  /** Delayed jobs that expire pending approvals. */
  approvals: string;
}

export function queueNames(): QueueNames {
  return { commands: 'commands', audit: 'audit', approvals: 'approvals' };
}

/** Exponential with jitter, or exactly what a Retry-After asked for. */
export function backoffDelay(attemptsMade: number, err: unknown): number {
  if (err instanceof ExternalServiceError && err.retryAfterMs !== undefined)
    return Math.min(err.retryAfterMs, MAX_BACKOFF_MS);
  const base = Math.min(500 * 2 ** Math.max(0, attemptsMade - 1), MAX_BACKOFF_MS);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** The queues the ack path writes to. Job ids are idempotency keys, so a redelivery adds nothing. */
export class BullJobs implements Jobs {
  readonly commands: Queue;
  readonly audit: Queue;
  readonly approvals: Queue;

  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
    names: QueueNames = queueNames(),
  ) {
    this.commands = new Queue(names.commands, { connection, prefix });
    this.audit = new Queue(names.audit, { connection, prefix });
    this.approvals = new Queue(names.approvals, { connection, prefix });
  }

  async scheduleApprovalExpiry(approvalId: string, at: number): Promise<void> {
    await this.approvals.add(
      'expire',
      { approvalId },
      {
        jobId: `expire-${approvalId}`,
        delay: Math.max(0, at - Date.now()),
        attempts: 20,
        backoff: { type: 'opsbot' },
        removeOnComplete: KEEP_COMPLETED,
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    );
  }

  /** True the first time an id is seen (for a day): tells a redelivery from a new request. */
  private async firstSighting(id: string): Promise<boolean> {
    return (
      (await this.connection.set(`${this.prefix}:seen:${id}`, '1', 'EX', KEEP_COMPLETED.age, 'NX')) === 'OK'
    );
  }

  async enqueueCommand(job: CommandJobInput): Promise<EnqueueResult> {
    const first = await this.firstSighting(job.id);
    // Added either way: BullMQ ignores a known job id, and a crash between the two steps loses nothing.
    await this.commands.add('command', job, {
      jobId: job.id,
      attempts: COMMAND_ATTEMPTS,
      backoff: { type: 'opsbot' },
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: { age: 7 * 24 * 3600 },
    });
    return { jobId: job.id, duplicate: !first };
  }

  async enqueueAudit(record: AuditRecord): Promise<EnqueueResult> {
    const first = await this.firstSighting(record.id);
    await this.audit.add('audit', record, {
      jobId: record.id,
      attempts: AUDIT_ATTEMPTS,
      backoff: { type: 'opsbot' },
      removeOnComplete: KEEP_COMPLETED,
      // A record GitHub refused for good stays in the failed set until someone replays it.
      removeOnFail: false,
    });
    return { jobId: record.id, duplicate: !first };
  }

  async close(): Promise<void> {
    await Promise.all([this.commands.close(), this.audit.close(), this.approvals.close()]);
  }
}

function attemptOf(job: Job): JobAttempt {
  const { checkpoints, ...data } = job.data as Record<string, unknown> & {
    checkpoints?: Record<string, unknown>;
  };
  return {
    data,
    attempt: job.attemptsMade + 1,
    maxAttempts: job.opts.attempts ?? 1,
    checkpoints: checkpoints ?? {},
    async saveCheckpoints(next) {
      await job.updateData({ ...data, checkpoints: next });
    },
  };
}

export interface WorkerOptions {
  connection: Redis;
  prefix: string;
  names?: QueueNames;
  log: Logger;
  concurrency?: number;
  runCommand(attempt: JobAttempt): Promise<unknown>;
  auditLog: AuditLog;
  onAuditWritten?(record: AuditRecord, location: string): void;
  expireApproval(approvalId: string): Promise<void>;
}

export interface Workers {
  commands: Worker;
  audit: Worker;
  approvals: Worker;
  close(force?: boolean): Promise<void>;
}

export function startWorkers(options: WorkerOptions): Workers {
  const names = options.names ?? queueNames();
  const settings = {
    backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) => backoffDelay(attemptsMade, err),
  };
  const common = {
    connection: options.connection,
    prefix: options.prefix,
    settings,
    // A crashed worker's job is picked up again within seconds, not the default 30.
    lockDuration: 10_000,
    stalledInterval: 5_000,
    maxStalledCount: 3,
  };

  const commands = new Worker(
    names.commands,
    async (job, token) => {
      try {
        return await options.runCommand(attemptOf(job));
      } catch (err) {
        if (err instanceof StateError && err.code === 'busy') {
          // Waiting behind another action on the same target does not use up an attempt.
          await job.moveToDelayed(Date.now() + BUSY_RETRY_MS, token);
          throw new DelayedError();
        }
        if (err instanceof FinalFailure) throw new UnrecoverableError(err.message);
        throw err;
      }
    },
    { ...common, concurrency: options.concurrency ?? 8 },
  );

  const audit = new Worker(
    names.audit,
    async (job) => {
      const record = AuditRecord.safeParse(job.data);
      if (!record.success)
        throw new UnrecoverableError(`invalid audit record in job ${job.id}: ${record.error.message}`);
      try {
        const { location } = await options.auditLog.write(record.data);
        options.onAuditWritten?.(record.data, location);
        return { location };
      } catch (err) {
        if (err instanceof OpsError && !err.retryable) {
          options.log.error(
            { err, record: record.data },
            'audit record REFUSED by the audit log; it stays in the failed set until replayed',
          );
          throw new UnrecoverableError(err.message);
        }
        options.log.warn(
          { err, recordId: record.data.id, attempt: job.attemptsMade + 1 },
          'audit write failed; will retry',
        );
        throw err;
      }
    },
    // One at a time keeps records for a target in the order they happened.
    { ...common, concurrency: 1 },
  );

  const approvals = new Worker(
    names.approvals,
    async (job) => {
      const approvalId = (job.data as { approvalId?: unknown }).approvalId;
      if (typeof approvalId !== 'string') throw new UnrecoverableError(`invalid expiry job ${job.id}`);
      await options.expireApproval(approvalId);
    },
    { ...common, concurrency: 4 },
  );

  for (const [name, worker] of Object.entries({ commands, audit, approvals })) {
    worker.on('error', (err) => options.log.error({ err, queue: name }, 'worker error'));
  }

  return {
    commands,
    audit,
    approvals,
    async close(force = false) {
      await Promise.all([commands.close(force), audit.close(force), approvals.close(force)]);
    },
  };
}
