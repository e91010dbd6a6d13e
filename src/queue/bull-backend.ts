import { DelayedError, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import {
  backoffDelay,
  type QueueBackend,
  type QueueDefinition,
  RetryLater,
  type TaskHandler,
  type TaskOptions,
  type TaskQueue,
  Unrecoverable,
} from './backend.js';
import type { RedisClient } from './connection.js';

const KEEP_COMPLETED_S = 24 * 3600;
const KEEP_FAILED_S = 7 * 24 * 3600;

/** BullMQ on Redis: durable, shared by every replica, recovered after a crash. */
export class BullBackend implements QueueBackend {
  readonly kind = 'redis';
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  private readonly failedListeners: ((queue: string, error: Error) => void)[] = [];
  private readonly closing = new AbortController();

  constructor(
    private readonly connection: RedisClient,
    private readonly workerConnection: RedisClient,
    private readonly prefix: string,
    private readonly log: Logger,
    /** A crashed worker's job is picked up again about this long after its last lock renewal. */
    private readonly lockMs = 10_000,
    /** False in a web process: it only adds tasks, and a worker runs them. */
    private readonly runsWorkers = true,
  ) {}

  private bullQueue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.connection, prefix: this.prefix });
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** True the first time an id is seen (for a day): tells a redelivery from a new request. */
  private async firstSighting(name: string, id: string): Promise<boolean> {
    const key = `${this.prefix}:seen:${name}:${id}`;
    return (await this.connection.set(key, '1', 'EX', KEEP_COMPLETED_S, 'NX')) === 'OK';
  }

  define<T>(name: string, handler: TaskHandler<T>, definition: QueueDefinition): TaskQueue<T> {
    const queue = this.queue<T>(name, definition);
    this.process(name, handler, definition);
    return queue;
  }

  process<T>(name: string, handler: TaskHandler<T>, definition: Pick<QueueDefinition, 'concurrency'>): void {
    if (!this.runsWorkers) return;
    const worker = new Worker(
      name,
      async (job, token) => {
        try {
          return await handler({
            id: job.id ?? '',
            data: job.data as T,
            attempt: job.attemptsMade + 1,
            maxAttempts: job.opts.attempts ?? 1,
            update: (data) => job.updateData(data),
            signal: this.closing.signal,
          });
        } catch (err) {
          if (err instanceof RetryLater) {
            await job.moveToDelayed(Date.now() + err.delayMs, token);
            throw new DelayedError();
          }
          // Keep the cause, so failure listeners can tell which system failed.
          if (err instanceof Unrecoverable)
            throw Object.assign(new UnrecoverableError(err.message), { cause: err.cause });
          throw err;
        }
      },
      {
        connection: this.workerConnection,
        prefix: this.prefix,
        concurrency: definition.concurrency,
        settings: {
          backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
            backoffDelay(attemptsMade, err),
        },
        // A crashed worker's job is picked up again within seconds, not the default 30.
        lockDuration: this.lockMs,
        stalledInterval: Math.max(500, Math.floor(this.lockMs / 2)),
        maxStalledCount: 3,
      },
    );
    worker.on('error', (err) => this.log.error({ err, queue: name }, 'worker error'));
    worker.on('failed', (_job, err) => {
      for (const listener of this.failedListeners) listener(name, err);
    });
    this.workers.push(worker);
  }

  queue<T>(name: string, defaults: Pick<QueueDefinition, 'attempts'>): TaskQueue<T> {
    const queue = this.bullQueue(name);
    const definition = defaults;
    return {
      add: async (id: string, data: T, options: TaskOptions = {}) => {
        // Sent together, one round trip: BullMQ ignores a known job id, so the order does not matter,
        // and a crash between the two loses nothing.
        const [first] = await Promise.all([
          this.firstSighting(name, id),
          queue.add(name, data, {
            jobId: id,
            attempts: options.attempts ?? definition.attempts,
            backoff: { type: 'opsbot' },
            ...(options.delayMs ? { delay: options.delayMs } : {}),
            removeOnComplete: { age: KEEP_COMPLETED_S },
            removeOnFail: options.keepFailed ? false : { age: KEEP_FAILED_S },
          }),
        ]);
        return { duplicate: !first };
      },
    };
  }

  async every(name: string, intervalMs: number, handler: () => Promise<void>): Promise<void> {
    const queue = this.bullQueue(name);
    // A web process leaves schedules to the workers: they own them and run them.
    if (!this.runsWorkers) return;
    this.define(name, handler, { concurrency: 1, attempts: 1 });
    await queue.upsertJobScheduler(name, { every: intervalMs }, { name });
  }

  async counts(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [name, queue] of this.queues) {
      out[name] = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
    }
    return out;
  }

  onFailed(listener: (queue: string, error: Error) => void): void {
    this.failedListeners.push(listener);
  }

  async ping(): Promise<void> {
    await this.connection.ping();
  }

  async stopWorkers(force = false): Promise<void> {
    this.closing.abort();
    await Promise.all(this.workers.map((w) => w.close(force)));
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
