/**
 * `opsbot start` with Redis answers Slack and webhooks (verify, parse, policy, enqueue) on the main
 * thread, and runs the jobs on a worker thread beside it. A job that parses YAML, waits on a rollout
 * or renders a large summary then never delays an ack: they no longer share an event loop.
 * One long-lived thread with the whole worker runtime (clients, caches, locks), not BullMQ's
 * sandboxed processors, which would rebuild that runtime for every job; and a thread rather than a
 * second process, because a second Node process maps its own copy of everything Node itself holds
 * (about 45 MB of the unit's idle memory). `deploy/kubernetes/` splits web and worker into
 * processes of their own, for teams that scale them apart.
 */
import { randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { resolve } from 'node:path';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { failpoint } from './failpoints.js';
import type { CheckResult } from './http/server.js';

/** Sent by the worker thread once it takes jobs. */
interface ReadyMessage {
  type: 'opsbot-worker-ready';
  port: number;
  /** The thread's Linux task id, for logs and for `ps -L`. */
  tid: number | undefined;
}

/** Sent by the supervisor: finish the running jobs and end the thread. */
interface StopMessage {
  type: 'opsbot-stop';
}

/** One metric as `Registry.getMetricsAsJSON()` gives it. */
export type MetricJson = MetricObjectWithValues<MetricValue<string>>;

/** What the web side asks its worker: its readiness checks, or its metrics as JSON. */
type Question = 'readiness' | 'metrics';
interface Ask {
  type: 'opsbot-ask';
  id: string;
  question: Question;
}
interface Answer {
  type: 'opsbot-answer';
  id: string;
  body?: unknown;
  /** Why the worker could not answer: the question's promise rejects with it. */
  error?: string;
}

/** The worker's side of the questions. */
export interface WorkerAnswers {
  readiness(): Promise<CheckResult[]>;
  metrics(): Promise<MetricJson[]>;
}

const ASK_TIMEOUT_MS = 2_000;

const SUPERVISED = 'OPSBOT_SUPERVISED';
const MAX_RESTART_DELAY_MS = 30_000;

export interface SupervisedWorker {
  /** Resolves when the first worker takes jobs; rejects if it ends before that. */
  ready: Promise<void>;
  /** Throws while no worker is running and ready: for /readyz. */
  check(): Promise<void>;
  /** The worker's health and metrics port, once it is ready. */
  port(): number | undefined;
  /** The worker's own readiness checks (audit records held, say), for the unit's /readyz. */
  readiness(): Promise<CheckResult[]>;
  /** The worker's metrics as JSON, to aggregate into the unit's /metrics. */
  metrics(): Promise<MetricJson[]>;
  /** Asks the worker to finish its jobs, and ends it past the grace period; no restart after this. */
  stop(graceMs: number): Promise<void>;
}

export interface SuperviseOptions {
  /** The CLI script to run as `<script> worker`. */
  script: string;
  env: NodeJS.ProcessEnv;
  workerPort: number;
  log: Logger;
  /** Added to the worker thread's nice value (OPSBOT_WORKER_NICE), so the web side wins the CPU. */
  niceness?: number;
}

/** Runs the worker on a thread, restarts it with a growing delay when it dies, and tells when it is ready. */
export function superviseWorker(options: SuperviseOptions): SupervisedWorker {
  const log = options.log.child({ component: 'supervisor' });
  let current: Worker | undefined;
  let readyPort: number | undefined;
  let stopping = false;
  let restarts = 0;
  let firstReady: { resolve(): void; reject(err: Error): void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    firstReady = { resolve, reject };
  });
  /** Questions awaiting the worker's answer, by id: settled with the answer, or with the error. */
  const pending = new Map<string, (body: unknown, err?: Error) => void>();
  const ask = (question: Question): Promise<unknown> => {
    const worker = current;
    if (!worker || readyPort === undefined) return Promise.reject(new Error('the worker is not running'));
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`the worker did not answer within ${ASK_TIMEOUT_MS} ms`));
      }, ASK_TIMEOUT_MS);
      pending.set(id, (body, err) => {
        clearTimeout(timer);
        pending.delete(id);
        if (err) reject(err);
        else resolve(body);
      });
      worker.postMessage({ type: 'opsbot-ask', id, question } satisfies Ask);
    });
  };

  const startWorker = (again: boolean) => {
    readyPort = undefined;
    const startedAt = Date.now();
    // A failpoint stands for one crash: the worker that replaces a crashed one runs without them.
    const { OPSBOT_FAILPOINTS: _once, ...restartEnv } = options.env;
    const worker = new Worker(resolve(options.script), {
      argv: ['worker'],
      env: { ...(again ? restartEnv : options.env), [SUPERVISED]: '1', PORT: String(options.workerPort) },
    });
    current = worker;
    worker.on('message', (msg: unknown) => {
      const answer = msg as Partial<Answer>;
      if (answer?.type === 'opsbot-answer' && typeof answer.id === 'string') {
        pending.get(answer.id)?.(
          answer.body,
          answer.error === undefined ? undefined : new Error(answer.error),
        );
        return;
      }
      const ready = msg as Partial<ReadyMessage>;
      if (ready?.type !== 'opsbot-worker-ready' || typeof ready.port !== 'number') return;
      readyPort = ready.port;
      log.info({ threadId: worker.threadId, tid: ready.tid, port: ready.port }, 'worker thread ready');
      firstReady?.resolve();
      firstReady = undefined;
    });
    // An uncaught error ends the thread: logged here, then handled as its exit below.
    worker.on('error', (err) => log.error({ err }, 'worker thread failed'));
    worker.on('exit', (code) => {
      if (current === worker) current = undefined;
      readyPort = undefined;
      for (const settle of [...pending.values()]) settle(undefined, new Error('the worker ended'));
      if (stopping) return;
      const err = new Error(`the worker thread ended (code ${code})`);
      if (firstReady) {
        firstReady.reject(err);
        firstReady = undefined;
        return;
      }
      // A worker that ran a while starts again at once; one that keeps dying waits longer each time.
      restarts = Date.now() - startedAt > 60_000 ? 0 : restarts + 1;
      const delay = Math.min(MAX_RESTART_DELAY_MS, restarts === 0 ? 0 : 500 * 2 ** restarts);
      log.error({ code, restartInMs: delay }, 'worker thread died; its jobs go back to the queue');
      setTimeout(() => {
        if (!stopping) startWorker(true);
      }, delay).unref();
    });
  };
  startWorker(false);

  return {
    ready,
    port: () => readyPort,
    async check() {
      if (!current || readyPort === undefined) throw new Error('the worker is not running');
    },
    readiness: async () => (await ask('readiness')) as CheckResult[],
    metrics: async () => (await ask('metrics')) as MetricJson[],
    async stop(graceMs) {
      stopping = true;
      const worker = current;
      if (!worker) return;
      const ended = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ type: 'opsbot-stop' } satisfies StopMessage);
      const killer = setTimeout(() => void worker.terminate(), graceMs + 5_000);
      await ended;
      clearTimeout(killer);
    },
  };
}

/** This thread's Linux task id, from /proc/thread-self; undefined elsewhere. */
function taskId(): number | undefined {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return undefined;
  }
}

/**
 * The worker's side: lowers its own thread's priority (on Linux a nice value belongs to each
 * thread), answers the supervisor's questions and tells it that jobs are taken (stopping is
 * `onStopRequest`, which the CLI wires to its own shutdown).
 */
export function reportToSupervisor(
  port: number,
  answers: WorkerAnswers,
  options: { niceness: number; log: Logger },
): void {
  const parent = parentPort;
  if (!isSupervised() || !parent) return;
  lowerPriority(options.niceness, options.log);
  parent.on('message', (msg: unknown) => {
    const ask = msg as Partial<Ask>;
    if (ask?.type !== 'opsbot-ask' || typeof ask.id !== 'string') return;
    const id = ask.id;
    const work = Promise.resolve().then((): Promise<unknown> => {
      failpoint(`worker.answer-${ask.question}`);
      return ask.question === 'metrics' ? answers.metrics() : answers.readiness();
    });
    void work.then(
      (body) => parent.postMessage({ type: 'opsbot-answer', id, body } satisfies Answer),
      // A readiness answer that fails becomes a failed `worker` check (runChecks), a metrics one is left out.
      (err: unknown) =>
        parent.postMessage({
          type: 'opsbot-answer',
          id,
          error: String((err as Error)?.message ?? err),
        } satisfies Answer),
    );
  });
  parent.postMessage({ type: 'opsbot-worker-ready', port, tid: taskId() } satisfies ReadyMessage);
}

/** The Slack ack has 3 s and a person waiting; a job can wait its turn for the CPU. */
function lowerPriority(niceness: number, log: Logger): void {
  if (niceness === 0) return;
  try {
    // pid 0 is the calling thread on Linux, and the web side's main thread keeps its priority.
    setPriority(0, Math.min(19, getPriority(0) + niceness));
  } catch (err) {
    log.warn({ err, niceness }, 'could not lower the worker thread priority; both run at the same priority');
  }
}

/** On the worker thread: calls `stop` when the supervisor asks it to finish (a thread gets no signals). */
export function onStopRequest(stop: () => void): void {
  if (!isSupervised()) return;
  parentPort?.on('message', (msg: unknown) => {
    if ((msg as Partial<StopMessage>)?.type === 'opsbot-stop') stop();
  });
}

/** True on a worker thread that `opsbot start` runs. */
export function isSupervised(): boolean {
  return !isMainThread && process.env[SUPERVISED] === '1';
}
