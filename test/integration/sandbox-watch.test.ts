/**
 * WATCH on the Kubernetes fake, as the API server documents it
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes):
 * driven by client-node's informer and Watch, by raw HTTP where the wire matters, and by the real kubectl.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type IncomingHttpHeaders, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ADD,
  DELETE,
  ERROR,
  type KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  UPDATE,
  type V1Deployment,
  Watch,
} from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type KubeApi, kubeClients, seedSampleApp, startKubeFake } from '../fakes/kubernetes.js';
import { selfSignedCert } from '../helpers/tls.js';

const DEPLOYMENTS = '/apis/apps/v1/namespaces/apps/deployments';
const BOOKMARK_MS = 100;
const HISTORY = 1000;

interface WatchLine {
  type: string;
  object: {
    kind?: string;
    apiVersion?: string;
    metadata?: {
      name?: string;
      namespace?: string;
      resourceVersion?: string;
      labels?: Record<string, string>;
    };
    [key: string]: unknown;
  };
}

/** A watch read off the wire: the status, headers and every line, until the server ends it or close(). */
interface RawWatch {
  status: number;
  headers: IncomingHttpHeaders;
  lines: WatchLine[];
  /** Everything read, as text: the Status of a refused watch, the object of a plain GET. */
  body: string;
  ended: Promise<void>;
  close(): void;
}

function rawWatch(kube: KubeApi, pathAndQuery: string): Promise<RawWatch> {
  return new Promise((resolve, reject) => {
    const req = request(`${kube.url}${pathAndQuery}`, {
      headers: { authorization: `Bearer ${kube.token}` },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const watch: RawWatch = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        lines: [],
        body: '',
        // Resolves however the response goes: ended by the server or destroyed by close().
        ended: new Promise((done) => res.once('close', () => done())),
        close: () => req.destroy(),
      };
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        watch.body += chunk;
        if (watch.status !== 200) return;
        pending += chunk;
        const parts = pending.split('\n');
        pending = parts.pop() ?? '';
        for (const part of parts) watch.lines.push(JSON.parse(part) as WatchLine);
      });
      res.on('error', () => {});
      resolve(watch);
    });
    req.end();
  });
}

async function until<T>(probe: () => T | undefined | false, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const summary = (l: WatchLine) =>
  `${l.type} ${l.object.metadata?.name} ${l.object.metadata?.resourceVersion}`;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const isWatch = (r: { query: Record<string, string> }) => r.query.watch === 'true' || r.query.watch === '1';

/** The store's resourceVersion now, as a list reports it. */
async function currentVersion(kube: KubeApi): Promise<number> {
  const res = await fetch(`${kube.url}/api/v1/namespaces`, {
    headers: { authorization: `Bearer ${kube.token}` },
  });
  const list = (await res.json()) as { metadata: { resourceVersion: string } };
  return Number(list.metadata.resourceVersion);
}

/** Writes that no deployment watch selects, enough to push older changes out of the history. */
function churn(kube: KubeApi, count: number, prefix: string): void {
  for (let i = 0; i < count; i++) kube.ensureNamespace(`${prefix}-${i}`);
}

function deploymentManifest(name: string) {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name, image: `ghcr.io/acme/${name}:1.0.0` }] },
      },
    },
  };
}

describe('watches on the Kubernetes fake', () => {
  let kube: KubeApi;
  let kc: KubeConfig;
  let apps: ReturnType<typeof kubeClients>['apps'];
  const cleanups: (() => unknown)[] = [];

  beforeEach(async () => {
    kube = await startKubeFake({ rolloutStepMs: 0, bookmarkIntervalMs: BOOKMARK_MS });
    seedSampleApp(kube, 'apps');
    ({ kc, apps } = kubeClients(kube, [{ name: 'sandbox', namespace: 'apps' }]));
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
    await kube.close();
  });

  function informer() {
    // The resourceVersion of each list the informer makes, which its next watch must start from.
    const listed: string[] = [];
    const inf = makeInformer(kc, DEPLOYMENTS, async () => {
      const list = await apps.listNamespacedDeployment({ namespace: 'apps' });
      listed.push(list.metadata?.resourceVersion ?? '');
      return list;
    });
    const seen: string[] = [];
    const errors: unknown[] = [];
    const note = (verb: string) => (d: V1Deployment) =>
      seen.push(`${verb} ${d.metadata?.name} ${d.metadata?.resourceVersion}`);
    inf.on(ADD, note('add'));
    inf.on(UPDATE, note('update'));
    inf.on(DELETE, note('delete'));
    inf.on(ERROR, (err) => errors.push(err));
    cleanups.push(() => inf.stop());
    return { inf, listed, seen, errors };
  }

  it("feeds client-node's informer: the list, then MODIFIED after a PATCH and DELETED after a DELETE", async () => {
    const { inf, listed, seen, errors } = informer();
    await inf.start();
    // The watch was accepted: a refused one reaches the informer's error callbacks before start() returns.
    expect(errors.map((e) => (e as { statusCode?: number }).statusCode ?? String(e))).toEqual([]);
    expect(
      inf
        .list()
        .map((d) => d.metadata?.name)
        .sort(),
    ).toEqual(['api', 'web', 'worker']);
    const listedAt = listed[0] ?? '';
    expect(kube.requests.at(-1)).toMatchObject({
      method: 'GET',
      path: DEPLOYMENTS,
      query: { watch: 'true', resourceVersion: listedAt },
    });
    expect(kube.openWatches).toBe(1);

    const patched = await apps.patchNamespacedDeployment(
      { name: 'web', namespace: 'apps', body: { metadata: { labels: { tier: 'frontend' } } } },
      mergePatch,
    );
    const patchedAt = patched.metadata?.resourceVersion ?? '';
    expect(Number(patchedAt)).toBeGreaterThan(Number(listedAt));
    await until(() => seen.includes(`update web ${patchedAt}`), 'the MODIFIED of the patch');
    expect(inf.get('web', 'apps')?.metadata?.labels?.tier).toBe('frontend');

    // Nothing else writes between the list and the DELETE, so the deletion is the next resourceVersion.
    const before = await currentVersion(kube);
    await apps.deleteNamespacedDeployment({ name: 'web', namespace: 'apps' });
    const deletedAt = String(before + 1);
    await until(() => seen.includes(`delete web ${deletedAt}`), 'the DELETED at a fresh resourceVersion');
    expect(inf.get('web', 'apps')).toBeUndefined();
    expect(seen.filter((s) => s.startsWith('delete'))).toEqual([`delete web ${deletedAt}`]);
    expect(errors).toEqual([]);
  });

  it('answers a watch from before its history with a 410 ERROR event, and the informer lists again', async () => {
    churn(kube, HISTORY + 1, 'old');
    const now = await currentVersion(kube);
    const oldest = now - HISTORY;

    const gone = await rawWatch(kube, `${DEPLOYMENTS}?watch=true&resourceVersion=${oldest - 1}`);
    await gone.ended;
    expect(gone.status).toBe(200);
    expect(gone.lines).toEqual([
      {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: ${oldest - 1} (${oldest})`,
          reason: 'Expired',
          code: 410,
        },
      },
    ]);
    // The oldest retained resourceVersion still starts a watch.
    const kept = await rawWatch(kube, `${DEPLOYMENTS}?watch=true&resourceVersion=${oldest}`);
    cleanups.push(kept.close);
    await sleep(50);
    expect(kept.lines).toEqual([]);
    expect(kube.openWatches).toBe(1);

    // An informer whose resourceVersion falls out of the history while it is away lists again and carries on.
    const { inf, listed, seen, errors } = informer();
    await inf.start();
    const listedAt = listed[0] ?? '';
    await inf.stop();
    await until(() => kube.openWatches === 1 && errors.length === 1, 'the informer to let its watch go');
    await apps.deleteNamespacedDeployment({ name: 'worker', namespace: 'apps' });
    churn(kube, HISTORY + 1, 'away');
    const from = kube.requests.length;
    await inf.start();
    await until(() => seen.some((s) => s.startsWith('delete worker')), 'the relist to drop worker');
    await until(() => kube.openWatches === 2, 'the informer to watch again');
    expect(listed).toHaveLength(2);
    const relistedAt = listed[1] ?? '';
    expect(Number(relistedAt)).toBeGreaterThan(Number(listedAt) + HISTORY);
    expect(
      kube.requests.slice(from).map((r) => `${r.path} ${isWatch(r) ? r.query.resourceVersion : 'list'}`),
    ).toEqual([`${DEPLOYMENTS} ${listedAt}`, `${DEPLOYMENTS} list`, `${DEPLOYMENTS} ${relistedAt}`]);
    expect(
      inf
        .list()
        .map((d) => d.metadata?.name)
        .sort(),
    ).toEqual(['api', 'web']);
    // And the new watch is live.
    const patched = await apps.patchNamespacedDeployment(
      { name: 'api', namespace: 'apps', body: { metadata: { annotations: { note: 'after 410' } } } },
      mergePatch,
    );
    await until(() => seen.includes(`update api ${patched.metadata?.resourceVersion}`), 'a live MODIFIED');
  });

  it('sends BOOKMARK events only when asked, carrying the latest resourceVersion', async () => {
    const listedAt = (await apps.listNamespacedDeployment({ namespace: 'apps' })).metadata?.resourceVersion;
    const events: WatchLine[] = [];
    let ended = false;
    const controller = await new Watch(kc).watch(
      DEPLOYMENTS,
      { allowWatchBookmarks: true, resourceVersion: listedAt, labelSelector: 'app=api' },
      (type, object) => events.push({ type, object }),
      () => {
        ended = true;
      },
    );
    cleanups.push(() => controller.abort());
    const plain = await rawWatch(kube, `${DEPLOYMENTS}?watch=true&resourceVersion=${listedAt}`);
    cleanups.push(plain.close);

    // Changes this watch does not select still move its bookmark on.
    churn(kube, 3, 'elsewhere');
    const now = String(await currentVersion(kube));
    const bookmark = await until(
      () => events.find((e) => e.type === 'BOOKMARK' && e.object.metadata?.resourceVersion === now),
      'a bookmark at the latest resourceVersion',
    );
    expect(bookmark.object).toEqual({
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      metadata: { resourceVersion: now },
    });
    expect(events.every((e) => e.type === 'BOOKMARK')).toBe(true);
    await sleep(BOOKMARK_MS * 2);
    expect(events.filter((e) => e.type === 'BOOKMARK').length).toBeGreaterThanOrEqual(2);
    expect(plain.lines).toEqual([]);
    expect(ended).toBe(false);
  });

  it('filters by label selector, field selector and namespace; a change of labels is ADDED or DELETED', async () => {
    kube.applyDeployment('other', deploymentManifest('api'), { settle: true });
    const from = await currentVersion(kube);
    const byLabel = await rawWatch(
      kube,
      `${DEPLOYMENTS}?watch=1&resourceVersion=${from}&labelSelector=app%3Dapi`,
    );
    const everywhere = await rawWatch(
      kube,
      `/apis/apps/v1/deployments?watch=1&resourceVersion=${from}&labelSelector=app%3Dapi`,
    );
    const byName = await rawWatch(
      kube,
      `${DEPLOYMENTS}?watch=1&resourceVersion=${from}&fieldSelector=metadata.name%3Dweb`,
    );
    cleanups.push(byLabel.close, everywhere.close, byName.close);

    const patch = (namespace: string, name: string, body: object) =>
      apps.patchNamespacedDeployment({ name, namespace, body }, mergePatch);
    const note = await patch('apps', 'api', { metadata: { annotations: { note: 'seen' } } });
    await patch('apps', 'worker', { metadata: { annotations: { note: 'not seen' } } });
    const other = await patch('other', 'api', { metadata: { annotations: { note: 'other namespace' } } });
    const joined = await patch('apps', 'web', { metadata: { labels: { app: 'api' } } });
    const left = await patch('apps', 'web', { metadata: { labels: { app: 'web' } } });
    const at = (d: V1Deployment) => d.metadata?.resourceVersion;

    const expected = [`MODIFIED api ${at(note)}`, `ADDED web ${at(joined)}`, `DELETED web ${at(left)}`];
    await until(() => byLabel.lines.length >= expected.length, 'the label-selected events');
    await sleep(50);
    expect(byLabel.lines.map(summary)).toEqual(expected);
    // The object that stops matching leaves with its last matching state, at the change's resourceVersion.
    expect(byLabel.lines[2]?.object.metadata?.labels?.app).toBe('api');
    expect(
      byLabel.lines.every((l) => l.object.kind === 'Deployment' && l.object.apiVersion === 'apps/v1'),
    ).toBe(true);

    await until(() => everywhere.lines.length >= 4, 'the all-namespaces events');
    expect(everywhere.lines.map((l) => `${l.object.metadata?.namespace}/${summary(l)}`)).toEqual([
      `apps/MODIFIED api ${at(note)}`,
      `other/MODIFIED api ${at(other)}`,
      `apps/ADDED web ${at(joined)}`,
      `apps/DELETED web ${at(left)}`,
    ]);
    await until(() => byName.lines.length >= 2, 'the field-selected events');
    expect(byName.lines.map(summary)).toEqual([`MODIFIED web ${at(joined)}`, `MODIFIED web ${at(left)}`]);
  });

  it('starts with a synthetic ADDED for every object when resourceVersion is unset or "0"', async () => {
    for (const query of ['watch=true', 'watch=true&resourceVersion=0']) {
      const watch = await rawWatch(kube, `${DEPLOYMENTS}?${query}`);
      cleanups.push(watch.close);
      expect(watch.status).toBe(200);
      expect(watch.headers['content-type']).toBe('application/json');
      expect(watch.headers['transfer-encoding']).toBe('chunked');
      await until(() => watch.lines.length >= 3, 'the initial events');
      expect(
        watch.lines.map(
          (l) => `${l.type} ${l.object.kind} ${l.object.apiVersion} ${l.object.metadata?.name}`,
        ),
      ).toEqual(['api', 'web', 'worker'].map((name) => `ADDED Deployment apps/v1 ${name}`));
      const stored = kube.getDeployment('apps', 'api');
      expect(watch.lines[0]?.object).toEqual(stored);
    }
  });

  it('waits for a resourceVersion the store has not reached, sending nothing from before it', async () => {
    const now = await currentVersion(kube);
    const ahead = await rawWatch(
      kube,
      `/api/v1/namespaces?watch=true&resourceVersion=${now + 2}&allowWatchBookmarks=true`,
    );
    cleanups.push(ahead.close);
    await sleep(BOOKMARK_MS * 2);
    expect(ahead.lines).toEqual([]);
    churn(kube, 3, 'later');
    await until(() => ahead.lines.length >= 2, 'the change past it and a bookmark');
    expect(ahead.lines[0]).toMatchObject({
      type: 'ADDED',
      object: { kind: 'Namespace', metadata: { name: 'later-2', resourceVersion: String(now + 3) } },
    });
    expect(ahead.lines.slice(1).map(summary)).toContain(`BOOKMARK undefined ${now + 3}`);
  });

  it('ends the stream after timeoutSeconds, and lets go of a watch whose client has gone', async () => {
    const timed = await rawWatch(kube, `${DEPLOYMENTS}?watch=true&resourceVersion=0&timeoutSeconds=1`);
    const started = Date.now();
    const left = await rawWatch(kube, `${DEPLOYMENTS}?watch=true`);
    await until(() => kube.openWatches === 2, 'both watches');
    left.close();
    await until(() => kube.openWatches === 1, 'the watch of the gone client to be let go');
    await timed.ended;
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(timed.lines).toHaveLength(3);
    await until(() => kube.openWatches === 0, 'the timed-out watch to be let go');
  });

  it('refuses what the server refuses: watching pods, sendInitialEvents without WatchList, a bad resourceVersion', async () => {
    const pods = await rawWatch(kube, '/api/v1/namespaces/apps/pods?watch=true');
    await pods.ended;
    expect(pods.status).toBe(405);
    expect(JSON.parse(pods.body)).toMatchObject({
      reason: 'MethodNotAllowed',
      message: 'watch is not supported on resources of kind "pods"',
    });
    const initial = await rawWatch(
      kube,
      `${DEPLOYMENTS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`,
    );
    await initial.ended;
    expect(initial.status).toBe(422);
    expect(JSON.parse(initial.body).message).toBe(
      'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled',
    );
    const bad = await rawWatch(kube, `${DEPLOYMENTS}?watch=true&resourceVersion=abc`);
    await bad.ended;
    expect(bad.status).toBe(422);
    expect(JSON.parse(bad.body).message).toBe(
      'deployments.apps "" is invalid: resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax',
    );
    // A named GET ignores watch, as on the real server.
    const named = await rawWatch(kube, `${DEPLOYMENTS}/api?watch=true`);
    await named.ended;
    expect(named.status).toBe(200);
    expect(JSON.parse(named.body)).toMatchObject({ kind: 'Deployment', metadata: { name: 'api' } });
    expect(kube.openWatches).toBe(0);
  });

  it('closes promptly with watches open, ending them', async () => {
    let done: unknown = 'not yet';
    await new Watch(kc).watch(
      DEPLOYMENTS,
      {},
      () => {},
      (err) => {
        done = err;
      },
    );
    const raw = await rawWatch(kube, `${DEPLOYMENTS}?watch=true&allowWatchBookmarks=true`);
    await until(() => kube.openWatches === 2, 'both watches');
    const started = Date.now();
    await kube.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    await raw.ended;
    await until(() => done !== 'not yet', "client-node's done callback");
    expect(done).toBeNull();
    expect(kube.openWatches).toBe(0);
  });
});

describe('watches with RBAC', () => {
  let kube: KubeApi;
  const RBAC = 'rbac.authorization.k8s.io';

  function grant(rules: object[]) {
    kube.applyRbac({
      apiVersion: `${RBAC}/v1`,
      kind: 'Role',
      metadata: { name: 'viewer', namespace: 'apps' },
      rules,
    });
  }

  beforeEach(async () => {
    kube = await startKubeFake({ rolloutStepMs: 0, rbac: { user: 'viewer' } });
    seedSampleApp(kube, 'apps');
    kube.applyRbac({
      apiVersion: `${RBAC}/v1`,
      kind: 'RoleBinding',
      metadata: { name: 'viewer', namespace: 'apps' },
      subjects: [{ kind: 'User', apiGroup: RBAC, name: 'viewer' }],
      roleRef: { apiGroup: RBAC, kind: 'Role', name: 'viewer' },
    });
  });

  afterEach(async () => {
    await kube.close();
  });

  it("answers a watch without the 'watch' verb with the 403 Status, and serves it once granted", async () => {
    grant([{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list'] }]);
    const denied = await rawWatch(kube, `${DEPLOYMENTS}?watch=true`);
    await denied.ended;
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'deployments.apps is forbidden: User "viewer" cannot watch resource "deployments" in API group "apps" in the namespace "apps"',
      reason: 'Forbidden',
      details: { group: 'apps', kind: 'deployments' },
      code: 403,
    });
    expect(kube.requests.at(-1)).toMatchObject({
      method: 'GET',
      path: DEPLOYMENTS,
      query: { watch: 'true' },
    });
    expect(kube.openWatches).toBe(0);

    const { kc } = kubeClients(kube, [{ name: 'sandbox', namespace: 'apps' }]);
    const failure = await new Promise<unknown>((resolve) => {
      void new Watch(kc).watch(DEPLOYMENTS, {}, () => {}, resolve);
    });
    expect((failure as { statusCode?: number }).statusCode).toBe(403);

    grant([{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch'] }]);
    const allowed = await rawWatch(kube, `${DEPLOYMENTS}?watch=true`);
    await until(() => allowed.lines.length === 3, 'the initial events');
    allowed.close();
  });

  it('authorizes a watch of one name by fieldSelector against resourceNames', async () => {
    grant([{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['watch'], resourceNames: ['api'] }]);
    const one = await rawWatch(kube, `${DEPLOYMENTS}?watch=true&fieldSelector=metadata.name%3Dapi`);
    expect(one.status).toBe(200);
    await until(() => one.lines.length === 1, 'the one object');
    expect(one.lines.map(summary)[0]).toMatch(/^ADDED api /);
    one.close();
    const all = await rawWatch(kube, `${DEPLOYMENTS}?watch=true`);
    await all.ended;
    expect(all.status).toBe(403);
  });
});

describe('kubectl get -w against the Kubernetes fake', () => {
  let kube: KubeApi;
  let dir: string;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    // kubectl sends its bearer token only over TLS.
    kube = await startKubeFake({ tls: selfSignedCert(), rolloutStepMs: 0 });
    seedSampleApp(kube, 'apps');
    dir = mkdtempSync(join(tmpdir(), 'opsbot-kubectl-watch-'));
  });

  afterEach(async () => {
    // Only the process this test started, by its PID.
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null)
      child.kill('SIGTERM');
    await kube.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints a change made after it started, until stopped', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    kube.writeKubeconfig(kubeconfig, [{ name: 'sandbox', namespace: 'apps' }]);
    const proc = spawn('kubectl', ['--kubeconfig', kubeconfig, 'get', 'deployments', '-w', '-o', 'name'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let out = '';
    let err = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const exited = once(proc, 'exit');
    const lines = () => out.split('\n').filter(Boolean);

    await until(() => lines().length >= 3, `kubectl's list (stderr: ${err})`, 15_000);
    expect(lines()).toEqual(['deployment.apps/api', 'deployment.apps/web', 'deployment.apps/worker']);
    await until(() => kube.openWatches === 1, `kubectl's watch (stderr: ${err})`, 15_000);
    const watchRequest = kube.requests.find((r) => isWatch(r));
    expect(watchRequest).toMatchObject({ path: DEPLOYMENTS, query: { watch: 'true' } });
    expect(Number(watchRequest?.query.resourceVersion)).toBeGreaterThan(0);

    kube.applyDeployment('apps', deploymentManifest('batch'), { settle: true });
    await until(
      () => lines().includes('deployment.apps/batch'),
      `the new deployment (stderr: ${err})`,
      15_000,
    );
    expect(proc.exitCode).toBeNull();

    expect(proc.pid).toBeDefined();
    proc.kill('SIGTERM');
    await exited;
    await until(() => kube.openWatches === 0, 'the watch of the stopped kubectl to be let go');
  });
});
