import { ExternalServiceError } from '../core/errors.js';

/**
 * The little opsbot needs from a job queue, so that the same code runs on BullMQ (production,
 * several replicas) or in process (local mode without Redis). Modelled on bullmq's own backends.
 */
export interface TaskOptions {
  /** Run no earlier than this many ms from now. */
  delayMs?: number;
  attempts?: number;
  /** Keep a task that failed for good, for an operator to replay (audit records). */
  keepFailed?: boolean;
}

export interface Task<T> {
  id: string;
  data: T;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  /** Persists new data for later attempts of this task (checkpoints). */
  update(data: T): Promise<void>;
  /** Aborted when the worker shuts down, so that a task waiting in place can hand itself back. */
  signal?: AbortSignal;
}

export type TaskHandler<T> = (task: Task<T>) => Promise<unknown>;

/** Try again after `delayMs` without using up an attempt (e.g. waiting behind a lock). */
export class RetryLater extends Error {
  constructor(
    readonly delayMs: number,
    reason: string,
  ) {
    super(reason);
  }
}

/** Fail now; retrying cannot help. */
export class Unrecoverable extends Error {}

export interface TaskQueue<T> {
  /** Adds a task; a known id adds nothing and answers duplicate. */
  add(id: string, data: T, options?: TaskOptions): Promise<{ duplicate: boolean }>;
}

export interface QueueDefinition {
  concurrency: number;
  /** Default attempts for tasks added without their own. */
  attempts: number;
}

export interface QueueBackend {
  readonly kind: 'redis' | 'memory';
  /** The producer side of a queue: what the ack path and the webhooks use. Starts no worker. */
  queue<T>(name: string, defaults: Pick<QueueDefinition, 'attempts'>): TaskQueue<T>;
  /** Runs the queue's tasks in this process: a worker, with at most `concurrency` at once. */
  process<T>(name: string, handler: TaskHandler<T>, definition: Pick<QueueDefinition, 'concurrency'>): void;
  /** A queue and its worker in one step. */
  define<T>(name: string, handler: TaskHandler<T>, definition: QueueDefinition): TaskQueue<T>;
  /** Runs `handler` every `intervalMs` on one worker of the fleet; survives restarts on Redis. */
  every(name: string, intervalMs: number, handler: () => Promise<void>): Promise<void>;
  /** Waiting, active, delayed and failed counts per queue, for /metrics. */
  counts(): Promise<Record<string, Record<string, number>>>;
  onFailed(listener: (queue: string, error: Error) => void): void;
  ping(): Promise<void>;
  /** Stops taking work; running tasks finish, or with `force` are handed back. Tasks can still be added. */
  stopWorkers(force?: boolean): Promise<void>;
  /** Closes the producers too; call after stopWorkers, once nothing more will be added. */
  close(): Promise<void>;
}

const MAX_BACKOFF_MS = 5 * 60_000;

/** Exponential with jitter, or exactly what a Retry-After asked for. */
export function backoffDelay(attemptsMade: number, err: unknown): number {
  if (err instanceof ExternalServiceError && err.retryAfterMs !== undefined) {
    return Math.min(err.retryAfterMs, MAX_BACKOFF_MS);
  }
  const base = Math.min(500 * 2 ** Math.max(0, attemptsMade - 1), MAX_BACKOFF_MS);
  return Math.round(base / 2 + Math.random() * (base / 2));
}
