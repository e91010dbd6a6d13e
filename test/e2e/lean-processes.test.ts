/**
 * Each thread of the unit loads only what it uses: the main thread answers Slack without the
 * Kubernetes client (whose root module loads every API group, about 75 MB) or Octokit, the worker
 * thread runs jobs without Bolt, and with only the Kubernetes APIs opsbot calls. Observed from
 * outside: an ESM resolve hook logs each built file a thread imports (test/helpers/import-log.mjs), and the
 * build's metafile tells which packages each file holds (test/helpers/bundle-contents.ts).
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { bundledFilesOf, bundledSources } from '../helpers/bundle-contents.js';
import { slash, startWorld, type World } from '../helpers/world.js';

describe('what each thread of opsbot start loads', () => {
  let world: World;
  let bot: BotProcess | undefined;
  const log = join(tmpdir(), `opsbot-imports-${process.pid}-${Date.now()}.log`);
  /** What a thread imported, by "<pid>.<thread id>". */
  const filesOf = (thread: string) =>
    readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith(`${thread} `))
      .map((line) => line.slice(line.indexOf(' ') + 1));
  /** Packages bundled into the files a thread imported, and packages it required from node_modules. */
  const importsOf = (thread: string) => {
    const files = filesOf(thread);
    return new Set([...bundledSources(files), ...files.filter((f) => !f.startsWith('file:'))]);
  };

  beforeAll(async () => {
    world = await startWorld();
  });

  afterAll(async () => {
    await bot?.stop('SIGTERM');
    await world?.close();
  });

  it('keeps the Kubernetes client and Octokit out of the web process, and Bolt out of the worker', async () => {
    bot = await startBotProcess(
      { ...world.env, OPSBOT_IMPORT_LOG: log },
      ['start'],
      ['--import', './test/helpers/import-log.mjs'],
    );
    const workerThread = bot.lines.find((l) => l.msg === 'worker thread ready')?.threadId;
    expect(workerThread).toBeGreaterThan(0);
    const mainKey = `${bot.child.pid}.0`;
    const workerKey = `${bot.child.pid}.${workerThread}`;

    // A command goes through the main thread and runs on the worker thread.
    const res = await slash(bot.url, world, 'status api --env staging');
    expect(res.body.text).toMatch(/^Accepted: status api in staging/);
    await bot.waitForLog((l) => l.msg === 'command finished', 20_000);

    const web = importsOf(mainKey);
    const worker = importsOf(workerKey);
    expect(web.size).toBeGreaterThan(0);
    expect(worker.size).toBeGreaterThan(0);
    expect(web.has('@slack/bolt')).toBe(true);
    expect(web.has('ioredis')).toBe(true);
    expect(web.has('@kubernetes/client-node')).toBe(false);
    // In HTTP mode Bolt never reaches Socket Mode's client, nor undici, which it brings and which
    // would compile its own HTTP parser to WebAssembly (scripts/build.mjs).
    expect(web.has('@slack/socket-mode')).toBe(false);
    expect(web.has('undici')).toBe(false);
    expect(web.has('js-yaml')).toBe(false);
    // The worker runs the Kubernetes client as the build bundles it (src/kubernetes/client-node.ts):
    // the APIs opsbot calls, never the package's root with its 60 API groups and the packages that
    // only exec, attach and cp need. js-yaml is what reads the kubeconfig.
    expect(worker.has('js-yaml')).toBe(true);
    const kubeFiles = bundledFilesOf('@kubernetes/client-node', filesOf(workerKey));
    expect(kubeFiles).toContain('node_modules/@kubernetes/client-node/dist/informer.js');
    expect(kubeFiles.filter((f) => /\/dist\/(index|api|exec|attach|cp|portforward)\.js$/.test(f))).toEqual(
      [],
    );
    expect(
      kubeFiles.filter((f) =>
        /\/gen\/apis\/(?!AppsV1Api|CoreV1Api|AuthorizationV1Api|VersionApi|exception|baseapi)/.test(f),
      ),
    ).toEqual([]);
    expect(worker.has('isomorphic-ws')).toBe(false);
    // node-fetch 2 requires whatwg-url (and tr46's Unicode table) but uses Node's own URL class.
    expect(worker.has('whatwg-url')).toBe(false);
    expect(worker.has('tr46')).toBe(false);
    expect(worker.has('tar-fs')).toBe(false);
    expect(worker.has('@slack/bolt')).toBe(false);
    // GitHub is written only by the worker: the web process never loads Octokit or its pacing.
    expect(web.has('@octokit/rest')).toBe(false);
    expect(web.has('bottleneck')).toBe(false);
    expect(worker.has('@octokit/rest')).toBe(true);
    // This world authenticates with GITHUB_TOKEN: the GitHub App's auth packages are never loaded.
    expect(worker.has('@octokit/auth-app')).toBe(false);

    // Queues are on Redis: neither thread loads bullmq's PostgreSQL backend, which its index re-exports.
    for (const thread of [mainKey, workerKey]) {
      expect(bundledFilesOf('bullmq', filesOf(thread)).filter((f) => f.includes('/postgres/'))).toEqual([]);
      expect(filesOf(thread).filter((f) => f.includes('postgres'))).toEqual([]);
    }

    // The unit is still ready: the worker answers for the cluster.
    const ready = (await (await fetch(`${bot.url}/readyz`)).json()) as {
      checks: { name: string; ok: boolean }[];
    };
    expect(ready.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['redis', 'worker', 'kubernetes', 'github']),
    );
    expect(ready.checks.every((c) => c.ok)).toBe(true);
  }, 60_000);
});
