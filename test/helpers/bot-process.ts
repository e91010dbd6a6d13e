import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface BotProcess {
  port: number;
  url: string;
  child: ChildProcess;
  /** Every line the process wrote, JSON log lines parsed. */
  lines: LogLine[];
  raw: string[];
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Bots still running; a test process that ends (or is killed by a timeout) takes them with it. */
const live = new Map<ChildProcess, { port: number; raw: string[] }>();
process.once('exit', () => {
  for (const child of live.keys()) child.kill('SIGKILL');
});

/** The bots of this test file that are still running, with what they wrote (for a failed test's report). */
export function runningBots(): { port: number; raw: readonly string[] }[] {
  return [...live.values()];
}

/**
 * Starts the bot as its own process, as the README does after `npm run build`
 * (`npm start` is `npm run build && node dist/src/cli.js start`; the build ran in global setup).
 */
export async function startBotProcess(
  env: Record<string, string>,
  args: string[] = ['start'],
  /** Flags for node itself (a forked worker inherits them), e.g. --cpu-prof, which NODE_OPTIONS refuses. */
  nodeArgs: string[] = [],
): Promise<BotProcess> {
  const child = spawn(process.execPath, [...nodeArgs, 'dist/src/cli.js', ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const waiters = new Set<() => void>();
  const onLine = (text: string) => {
    raw.push(text);
    try {
      lines.push(JSON.parse(text) as LogLine);
    } catch {
      lines.push({ level: 50, msg: text });
    }
    for (const wake of waiters) wake();
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);

  const waitForLog = (predicate: (line: LogLine) => boolean, timeoutMs = 15_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = lines.find(predicate);
        if (found) {
          cleanup();
          resolve(found);
        } else if (child.exitCode !== null) {
          cleanup();
          reject(new Error(`bot exited with ${child.exitCode}:\n${raw.slice(-20).join('\n')}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for a log line:\n${raw.slice(-20).join('\n')}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', check);
      };
      waiters.add(check);
      child.on('exit', check);
      check();
    });

  const output = { port: 0, raw };
  live.set(child, output);
  child.once('exit', () => live.delete(child));
  // Generous: on a loaded 2-core machine a cold start can take a while.
  const started = await waitForLog((l) => l.msg === 'opsbot started', 45_000).catch((err: unknown) => {
    // A bot that did not start in time must not outlive the test.
    child.kill('SIGKILL');
    throw err;
  });
  const port = Number(started.port);
  output.port = port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    child,
    lines,
    raw,
    waitForLog,
    async stop(signal = 'SIGTERM') {
      // A process killed by a signal has no exit code, only a signal code.
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
      return child.exitCode;
    },
  };
}
