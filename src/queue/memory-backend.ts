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

interface Entry {
  id: string;
  data: unknown;
  attempt: number;
  maxAttempts: number;
  state: 'waiting' | 'delayed' | 'active' | 'completed' | 'failed';
}

interface QueueState {
  entries: Map<string, Entry>;
  handler: TaskHandler<unknown> | undefined;
  concurrency: number;
  active: number;
  run(entry: Entry, delay: number): void;
  /** Starts the tasks that waited for a worker. */
  startWaiting(): void;
}

/**
 * An in-process queue for local mode without Redis. Same contract as the BullMQ backend, but
 * nothing survives a restart and nothing is shared between processes: production needs Redis.
 */
export class MemoryBackend implements QueueBackend {
  readonly kind = 'memory';
  private readonly queues = new Map<string, QueueState>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly failedListeners: ((queue: string, error: Error) => void)[] = [];
  private closed = false;

  constructor(private readonly log: Logger) {}

  private later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  /** The in-process state of one queue: its tasks, and its worker once one is registered. */
  private state(name: string): QueueState {
    let state = this.queues.get(name);
    if (state) return state;
    const entries = new Map<string, Entry>();
    const backlog: Entry[] = [];
    const queue: QueueState = {
      entries,
      handler: undefined,
      concurrency: 1,
      active: 0,
      run: (entry, delay) => {
        entry.state = delay > 0 ? 'delayed' : 'waiting';
        this.later(() => start(entry), delay);
      },
      startWaiting: () => {
        for (const entry of entries.values()) if (entry.state === 'waiting') start(entry);
      },
    };
    const start = (entry: Entry): void => {
      if (this.closed || entry.state === 'active') return;
      // Without a worker in this process a task waits, as it would in Redis, until one is registered.
      if (!queue.handler) {
        entry.state = 'waiting';
        return;
      }
      if (queue.active >= queue.concurrency) {
        if (!backlog.includes(entry)) backlog.push(entry);
        return;
      }
      const handler = queue.handler;
      queue.active++;
      entry.state = 'active';
      const work = handler({
        id: entry.id,
        data: entry.data,
        attempt: entry.attempt,
        maxAttempts: entry.maxAttempts,
        update: async (data) => {
          entry.data = data;
        },
      })
        .then(
          () => {
            entry.state = 'completed';
          },
          (err: unknown) => {
            if (err instanceof RetryLater) return queue.run(entry, err.delayMs);
            const error = err instanceof Error ? err : new Error(String(err));
            for (const listener of this.failedListeners) listener(name, error);
            if (err instanceof Unrecoverable || entry.attempt >= entry.maxAttempts) {
              entry.state = 'failed';
              this.log.warn({ err: error, queue: name, taskId: entry.id }, 'task failed for good');
              return;
            }
            entry.attempt++;
            queue.run(entry, backoffDelay(entry.attempt - 1, err));
          },
        )
        .finally(() => {
          queue.active--;
          this.running.delete(work);
          const next = backlog.shift();
          if (next) start(next);
        });
      this.running.add(work);
    };
    this.queues.set(name, queue);
    state = queue;
    return state;
  }

  queue<T>(name: string, defaults: Pick<QueueDefinition, 'attempts'>): TaskQueue<T> {
    const { entries, run } = this.state(name);
    return {
      add: async (id: string, data: T, options: TaskOptions = {}) => {
        if (entries.has(id)) return { duplicate: true };
        const entry: Entry = {
          id,
          data,
          attempt: 1,
          maxAttempts: options.attempts ?? defaults.attempts,
          state: 'waiting',
        };
        entries.set(id, entry);
        run(entry, options.delayMs ?? 0);
        return { duplicate: false };
      },
    };
  }

  process<T>(name: string, handler: TaskHandler<T>, definition: Pick<QueueDefinition, 'concurrency'>): void {
    const state = this.state(name);
    state.handler = handler as TaskHandler<unknown>;
    state.concurrency = definition.concurrency;
    state.startWaiting();
  }

  define<T>(name: string, handler: TaskHandler<T>, definition: QueueDefinition): TaskQueue<T> {
    const queue = this.queue<T>(name, definition);
    this.process(name, handler, definition);
    return queue;
  }

  async every(name: string, intervalMs: number, handler: () => Promise<void>): Promise<void> {
    const tick = () => {
      if (this.closed) return;
      handler()
        .catch((err: unknown) => this.log.warn({ err, scheduler: name }, 'scheduled task failed'))
        .finally(() => this.later(tick, intervalMs));
    };
    this.later(tick, intervalMs);
  }

  async counts(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [name, { entries }] of this.queues) {
      const counts: Record<string, number> = { waiting: 0, active: 0, delayed: 0, failed: 0 };
      for (const entry of entries.values()) {
        if (entry.state in counts) counts[entry.state] = (counts[entry.state] ?? 0) + 1;
      }
      out[name] = counts;
    }
    return out;
  }

  onFailed(listener: (queue: string, error: Error) => void): void {
    this.failedListeners.push(listener);
  }

  async ping(): Promise<void> {}

  /** Tasks that are running or due now; delayed ones (approval expiries) cannot outlive the process. */
  private pendingNow(): number {
    let n = 0;
    for (const { entries } of this.queues.values()) {
      for (const entry of entries.values()) if (entry.state === 'active' || entry.state === 'waiting') n++;
    }
    return n;
  }

  async close(): Promise<void> {}

  async stopWorkers(force = false): Promise<void> {
    // Drain first: an audit record queued by the last action must still be written.
    while (!force && this.pendingNow() > 0) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (!force) await Promise.allSettled([...this.running]);
  }
}
