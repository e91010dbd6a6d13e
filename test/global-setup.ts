import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/** The programs the tests run, with the Debian command that installs each. */
const PROGRAMS = {
  'redis-server': 'apt-get install redis-server',
  prometheus: 'apt-get install prometheus prometheus-alertmanager',
  'prometheus-alertmanager': 'apt-get install prometheus prometheus-alertmanager',
  kubectl: 'apt-get install kubectl',
} as const;
type Program = keyof typeof PROGRAMS;

/** What the tests are given: REDIS_URL for the workers, and how to stop what was started. */
export interface Prepared {
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** A program's path on PATH, as a shell would find it; undefined when there is none. */
export function findOnPath(program: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** Fails at once, naming every missing program and the command that installs it. */
export function requirePrograms(
  programs: readonly Program[],
  path: string | undefined,
): Record<Program, string> {
  const found = Object.fromEntries(programs.map((p) => [p, findOnPath(p, path)])) as Record<Program, string>;
  const missing = programs.filter((p) => !found[p]);
  if (missing.length > 0) {
    const commands = [...new Set(missing.map((p) => PROGRAMS[p]))];
    throw new Error(
      `The tests need ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not on PATH. Install with:\n${commands.map((c) => `  ${c}`).join('\n')}`,
    );
  }
  return found;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** True when a Redis server answers PING with +PONG at host:port. */
function redisAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      // An answer at all means a Redis is there; one that wants a password answers -NOAUTH.
      if (reply.includes('\r\n')) done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** A throwaway redis-server on a free loopback port: no persistence, stopped by its PID. */
async function startRedis(binary: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers('127.0.0.1', port, 200))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start on 127.0.0.1:${port}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://127.0.0.1:${port}`, child };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  // Only the process this setup started, by its PID.
  process.kill(child.pid as number, 'SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGKILL');
}

/**
 * Everything the tests need that is not npm's: a Redis (REDIS_URL, or one started here on a free
 * loopback port), and Prometheus and Alertmanager for the real-Alertmanager test. A missing
 * program fails the run at once with the command that installs it.
 */
export async function prepare(env: NodeJS.ProcessEnv): Promise<Prepared> {
  const programs: Program[] = [
    ...(env.REDIS_URL ? [] : (['redis-server'] as const)),
    'prometheus',
    'prometheus-alertmanager',
    // The Kubernetes fake's contract test runs the real kubectl against it.
    'kubectl',
  ];
  const found = requirePrograms(programs, env.PATH);
  if (env.REDIS_URL) {
    const url = new URL(env.REDIS_URL);
    if (!(await redisAnswers(url.hostname, Number(url.port || 6379), 2000)))
      throw new Error(
        `Nothing answers at REDIS_URL (${url.host}); start Redis there, or unset REDIS_URL to have the tests start one`,
      );
    return { env: {}, stop: async () => {} };
  }
  const redis = await startRedis(found['redis-server']);
  return { env: { REDIS_URL: redis.url }, stop: () => stopChild(redis.child) };
}

/** vitest globalSetup: prepare, hand REDIS_URL to the test workers, build the bot, and stop it all at the end. */
export default async function setup(): Promise<() => Promise<void>> {
  const prepared = await prepare(process.env);
  // Workers start after this and inherit this process's environment.
  Object.assign(process.env, prepared.env);
  try {
    // End-to-end tests run the built bot as its own process, as `npm start` does.
    execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  } catch (err) {
    await prepared.stop();
    throw err;
  }
  return prepared.stop;
}
