/**
 * `opsbot start` with Redis runs two processes: this one answers Slack and webhooks (verify, parse,
 * policy, enqueue) and a worker process beside it runs the jobs. A job that parses YAML, waits on a
 * rollout or renders a large summary then never delays an ack: they no longer share an event loop.
 * A forked process rather than BullMQ's sandboxed processors, because a job needs the whole runtime
 * (clients, caches, locks), which a worker thread would rebuild for every job; this is the web +
 * worker split that Heroku-style deployments and `deploy/kubernetes/` use, in one unit.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from 'pino';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { CheckResult } from './http/server.js';

/** Sent by the worker over IPC once it takes jobs. */
interface ReadyMessage {
  type: 'opsbot-worker-ready';
  port: number;
}

/** One metric as `Registry.getMetricsAsJSON()` gives it. */
export type MetricJson = MetricObjectWithValues<MetricValue<string>>;

/** What the web process asks its worker: its readiness checks, or its metrics as JSON. */
type Question = 'readiness' | 'metrics';
interface Ask {
  type: 'opsbot-ask';
  id: string;
  question: Question;
}
interface Answer {
  type: 'opsbot-answer';
  id: string;
  body: unknown;
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
  /** Resolves when the first worker takes jobs; rejects if it exits before that. */
  ready: Promise<void>;
  /** Throws while no worker is running and ready: for /readyz. */
  check(): Promise<void>;
  /** The worker's health and metrics port, once it is ready. */
  port(): number | undefined;
  /** The worker's own readiness checks (audit records held, say), for the unit's /readyz. */
  readiness(): Promise<CheckResult[]>;
  /** The worker's metrics as JSON, to aggregate into the unit's /metrics. */
  metrics(): Promise<MetricJson[]>;
  /** SIGTERM, then SIGKILL past the grace period; no restart after this. */
  stop(graceMs: number): Promise<void>;
}

export interface SuperviseOptions {
  /** The CLI script to run as `<script> worker`. */
  script: string;
  env: NodeJS.ProcessEnv;
  workerPort: number;
  log: Logger;
  /** Crash-safety tests arm failpoints: then a worker killed at one means the whole unit crashed. */
  failpointsArmed: boolean;
  /** Added to the worker's nice value (OPSBOT_WORKER_NICE), so the web process wins the CPU. */
  niceness?: number;
}

/** The Slack ack has 3 s and a person waiting; a job can wait its turn for the CPU. */
/**
 * The threads of a process: on Linux a nice value belongs to each thread, and by the time the worker
 * is ready V8's GC and compiler threads and libuv's pool already exist beside its main thread.
 */
function threadsOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number).filter(Number.isInteger);
  } catch {
    return [pid];
  }
}

function lowerPriority(worker: ChildProcess, niceness: number, log: Logger): void {
  if (niceness === 0 || worker.pid === undefined) return;
  const priority = Math.min(19, getPriority() + niceness);
  try {
    setPriority(worker.pid, priority);
    for (const thread of threadsOf(worker.pid)) {
      try {
        if (thread !== worker.pid) setPriority(thread, priority);
      } catch {
        // A thread that ended since it was listed needs nothing.
      }
    }
  } catch (err) {
    log.warn({ err, niceness }, 'could not lower the worker process priority; both run at the same priority');
  }
}

/** Forks the worker, restarts it with a growing delay when it dies, and tells when it is ready. */
export function superviseWorker(options: SuperviseOptions): SupervisedWorker {
  const log = options.log.child({ component: 'supervisor' });
  let child: ChildProcess | undefined;
  let readyPort: number | undefined;
  let stopping = false;
  let restarts = 0;
  let firstReady: { resolve(): void; reject(err: Error): void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    firstReady = { resolve, reject };
  });
  const pending = new Map<string, (body: unknown) => void>();
  const ask = (question: Question): Promise<unknown> => {
    const worker = child;
    if (!worker?.connected || readyPort === undefined)
      return Promise.reject(new Error('the worker process is not running'));
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`the worker process did not answer within ${ASK_TIMEOUT_MS} ms`));
      }, ASK_TIMEOUT_MS);
      pending.set(id, (body) => {
        clearTimeout(timer);
        resolve(body);
      });
      worker.send({ type: 'opsbot-ask', id, question } satisfies Ask, (err) => {
        if (!err) return;
        clearTimeout(timer);
        pending.delete(id);
        reject(err);
      });
    });
  };

  const spawnWorker = () => {
    readyPort = undefined;
    const startedAt = Date.now();
    const worker = fork(options.script, ['worker'], {
      env: { ...options.env, [SUPERVISED]: '1', PORT: String(options.workerPort) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child = worker;
    worker.on('message', (msg: unknown) => {
      const answer = msg as Partial<Answer>;
      if (answer?.type === 'opsbot-answer' && typeof answer.id === 'string') {
        pending.get(answer.id)?.(answer.body);
        pending.delete(answer.id);
        return;
      }
      const ready = msg as Partial<ReadyMessage>;
      if (ready?.type !== 'opsbot-worker-ready' || typeof ready.port !== 'number') return;
      readyPort = ready.port;
      // Only once it is ready: a start-up at low priority on a busy machine would hold up the unit.
      lowerPriority(worker, options.niceness ?? 0, log);
      log.info({ pid: worker.pid, port: ready.port }, 'worker process ready');
      firstReady?.resolve();
      firstReady = undefined;
    });
    worker.on('exit', (code, signal) => {
      if (child === worker) child = undefined;
      readyPort = undefined;
      if (stopping) return;
      if (signal === 'SIGKILL' && options.failpointsArmed) {
        // A failpoint stands for a crash of the machine or pod: the whole unit goes, as it would.
        process.kill(process.pid, 'SIGKILL');
        return;
      }
      const err = new Error(`the worker process exited (${signal ?? `code ${code}`})`);
      if (firstReady) {
        firstReady.reject(err);
        firstReady = undefined;
        return;
      }
      // A worker that ran a while starts again at once; one that keeps dying waits longer each time.
      restarts = Date.now() - startedAt > 60_000 ? 0 : restarts + 1;
      const delay = Math.min(MAX_RESTART_DELAY_MS, restarts === 0 ? 0 : 500 * 2 ** restarts);
      log.error({ code, signal, restartInMs: delay }, 'worker process died; its jobs go back to the queue');
      setTimeout(() => {
        if (!stopping) spawnWorker();
      }, delay).unref();
    });
  };
  spawnWorker();

  return {
    ready,
    port: () => readyPort,
    async check() {
      if (!child || readyPort === undefined) throw new Error('the worker process is not running');
    },
    readiness: async () => (await ask('readiness')) as CheckResult[],
    metrics: async () => (await ask('metrics')) as MetricJson[],
    async stop(graceMs) {
      stopping = true;
      const worker = child;
      if (!worker || worker.exitCode !== null || worker.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.kill('SIGTERM');
      const killer = setTimeout(() => worker.kill('SIGKILL'), graceMs + 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/**
 * The worker's side: tells the supervisor it is ready, and dies with it. A worker whose parent is
 * gone (killed, OOM) must not run on unsupervised: its jobs return to the queue, as after a crash.
 */
export function reportToSupervisor(port: number, answers: WorkerAnswers): void {
  if (!isSupervised() || !process.send) return;
  process.on('message', (msg: unknown) => {
    const ask = msg as Partial<Ask>;
    if (ask?.type !== 'opsbot-ask' || typeof ask.id !== 'string') return;
    const id = ask.id;
    const work = ask.question === 'metrics' ? answers.metrics() : answers.readiness();
    void work.then(
      (body) => process.send?.({ type: 'opsbot-answer', id, body } satisfies Answer),
      (err: unknown) =>
        process.send?.({
          type: 'opsbot-answer',
          id,
          body: [{ name: 'worker', ok: false, error: String((err as Error)?.message ?? err) }],
        } satisfies Answer),
    );
  });
  process.send({ type: 'opsbot-worker-ready', port } satisfies ReadyMessage);
  process.once('disconnect', () => process.kill(process.pid, 'SIGKILL'));
}

/** True in a worker process that `opsbot start` forked. */
export function isSupervised(): boolean {
  return process.env[SUPERVISED] === '1';
}
