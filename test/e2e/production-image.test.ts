import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../faults/support.js';
import { imageRuntimeEnv } from '../helpers/image.js';
import { slash, startWorld, type World } from '../helpers/world.js';

/** What the Dockerfile deletes from the build: the sandbox cluster, which only local mode needs. */
const SANDBOX_DIR = 'dist/src/sandbox';

/**
 * Lays out /app as the Dockerfile's final stage does (dist without the sandbox, package.json, manifest.yml,
 * runbooks, node_modules), so a static import of the sandbox anywhere on the start path fails to load.
 */
function imageLayout(): string {
  const app = mkdtempSync(join(tmpdir(), 'opsbot-image-'));
  cpSync('dist', join(app, 'dist'), { recursive: true });
  rmSync(join(app, SANDBOX_DIR), { recursive: true, force: true });
  cpSync('package.json', join(app, 'package.json'));
  cpSync('manifest.yml', join(app, 'manifest.yml'));
  cpSync('runbooks', join(app, 'runbooks'), { recursive: true });
  symlinkSync(resolve('node_modules'), join(app, 'node_modules'), 'dir');
  return app;
}

interface ImageProcess {
  child: ChildProcess;
  output: () => string;
  /** The JSON log line with this message, once the process has written it. */
  logLine: (msg: string) => Record<string, unknown> | undefined;
}

/** What the image's ENV sets for the runtime (node refuses to start if a NODE_OPTIONS flag is not allowed there). */
const IMAGE_RUNTIME_ENV = imageRuntimeEnv();

/** `node dist/src/cli.js start`, as the image's ENTRYPOINT and CMD run it, from the image layout. */
function startFromImage(app: string, env: Record<string, string>): ImageProcess {
  const child = spawn(process.execPath, ['dist/src/cli.js', 'start'], {
    cwd: app,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: app,
      LOG_LEVEL: 'info',
      PORT: '0',
      HOST: '127.0.0.1',
      ...IMAGE_RUNTIME_ENV,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const logLine = (msg: string) =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.msg === msg);
  return { child, output: () => out, logLine };
}

describe('the production image', () => {
  let world: World;
  let app: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    world = await startWorld();
    app = imageLayout();
  });

  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    }
    await world?.close();
    if (app) rmSync(app, { recursive: true, force: true });
  });

  it('is built without the sandbox cluster', () => {
    expect(readFileSync('Dockerfile', 'utf8')).toContain(`rm -rf ${SANDBOX_DIR}`);
    // The checkout's build has it (local mode runs from there); the image layout does not.
    expect(existsSync(`${SANDBOX_DIR}/kube-api.js`)).toBe(true);
    expect(existsSync(join(app, SANDBOX_DIR))).toBe(false);
  });

  it('starts with a kubeconfig and answers from the cluster, never loading the sandbox', async () => {
    const bot = startFromImage(app, world.env);
    children.push(bot.child);
    const started = await until(
      () => {
        if (bot.child.exitCode !== null) throw new Error(`the bot exited:\n${bot.output()}`);
        return bot.logLine('opsbot started');
      },
      45_000,
      'opsbot started',
    );
    expect(started.sandbox).toBe(false);
    expect(IMAGE_RUNTIME_ENV).toMatchObject({
      NODE_OPTIONS: expect.stringContaining('--max-semi-space-size='),
      MALLOC_ARENA_MAX: '2',
      MALLOC_MMAP_THRESHOLD_: '131072',
    });
    const url = `http://127.0.0.1:${Number(started.port)}`;
    // Ready means the kube contexts of opsbot.yml answered through the kubeconfig.
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    await slash(url, world, 'status api --env staging');
    await world.slack.waitFor(() =>
      world.slack.messages('COPS').find((m) => m.text?.startsWith('api in staging: 3/3 ready')),
    );
    expect(world.kube.requests.some((r) => r.path === '/apis/apps/v1/namespaces/apps/deployments/api')).toBe(
      true,
    );
  });

  it('without a kube context, says the sandbox is not in this build instead of crashing', async () => {
    const { KUBECONFIG: _kubeconfig, ...env } = world.env;
    const bot = startFromImage(app, { ...env, OPSBOT_QUEUE: 'memory' });
    children.push(bot.child);
    const [code] = (await once(bot.child, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(bot.output()).toContain('opsbot: no Kubernetes context was found');
    expect(bot.output()).toContain('the built-in sandbox cluster is not part of this build');
    expect(bot.output()).not.toContain('ERR_MODULE_NOT_FOUND');
  });
});
