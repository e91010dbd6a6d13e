/**
 * The watch cache (src/kubernetes/watch-cache.ts): per environment, an informer for Deployments and
 * one for ReplicaSets, so a plan reads memory instead of the API server. Driven against the
 * Kubernetes fake over HTTP, which serves watches as the real API server does.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubeCluster } from '../../src/kubernetes/cluster.js';
import type { Watching } from '../../src/kubernetes/watch-cache.js';
import type { ClusterTarget } from '../../src/ports.js';
import { type KubeApi, kubeClients, seedSampleApp, startKubeFake } from '../fakes/kubernetes.js';

const staging: ClusterTarget = { environment: 'staging', context: 'staging', namespace: 'apps' };

function imageOf(template: Record<string, unknown>): string | undefined {
  const spec = template.spec as { containers: { image: string }[] };
  return spec.containers[0]?.image;
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function events() {
  const synced: Watching[] = [];
  const failed: { what: Watching; err: unknown }[] = [];
  return {
    synced,
    failed,
    sink: {
      synced: (w: Watching) => synced.push(w),
      failed: (what: Watching, err: unknown) => failed.push({ what, err }),
    },
  };
}

describe('the watch cache of an environment', () => {
  let kube: KubeApi;
  let cluster: KubeCluster | undefined;

  beforeAll(async () => {
    kube = await startKubeFake({ rolloutStepMs: 0 });
    seedSampleApp(kube, 'apps');
  });

  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  afterAll(async () => {
    await kube.close();
  });

  it('answers plan reads from memory, and follows changes made after it listed', async () => {
    cluster = new KubeCluster(kubeClients(kube, [{ name: 'staging' }], 'staging').kc);
    const seen = events();
    await cluster.watchNamespaces([staging], seen.sink);
    expect(seen.synced.map((w) => w.resource).sort()).toEqual(['deployments', 'replicasets']);
    expect(seen.failed).toEqual([]);

    const before = kube.requests.length;
    const api = await cluster.getDeployment(staging, 'api', 'cache');
    const history = await cluster.listReplicaSets(staging, api, 'cache');
    expect(kube.requests.length).toBe(before);
    expect(imageOf(api.template)).toBe('ghcr.io/acme/api:1.5.0');
    // The same answer the API server gives.
    const fresh = await cluster.getDeployment(staging, 'api', 'server');
    expect(api).toEqual(fresh);
    const freshHistory = await cluster.listReplicaSets(staging, fresh, 'server');
    expect(history.map((r) => r.name).sort()).toEqual(freshHistory.map((r) => r.name).sort());
    expect(history).toHaveLength(3);

    // A deploy made elsewhere (kubectl, CI) arrives by watch.
    const live = kube.getDeployment('apps', 'api') as unknown as {
      spec: { template: { spec: { containers: { image: string }[] } } };
    };
    live.spec.template.spec.containers[0]!.image = 'ghcr.io/acme/api:1.6.0';
    kube.applyDeployment('apps', live, { settle: true });
    const after = kube.requests.length;
    const now = await until(async () => {
      const d = await cluster!.getDeployment(staging, 'api', 'cache');
      return imageOf(d.template) === 'ghcr.io/acme/api:1.6.0' ? d : undefined;
    });
    expect(imageOf(now.template)).toBe('ghcr.io/acme/api:1.6.0');
    expect(now.resourceVersion).toBe((await cluster.getDeployment(staging, 'api')).resourceVersion);
    expect(await cluster.listReplicaSets(staging, now, 'cache')).toHaveLength(4);
    expect(kube.requests.length).toBe(after + 1);
  });

  it('reads the API server for an impersonated target, and for reads that ask for it', async () => {
    cluster = new KubeCluster(kubeClients(kube, [{ name: 'staging' }], 'staging').kc);
    await cluster.watchNamespaces([staging], events().sink);
    const before = kube.requests.length;
    await cluster.getDeployment(staging, 'api');
    await cluster.getDeployment(
      { ...staging, identity: { user: 'alice@example.com', groups: [] } },
      'api',
      'cache',
    );
    expect(kube.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /apis/apps/v1/namespaces/apps/deployments/api',
      'GET /apis/apps/v1/namespaces/apps/deployments/api',
    ]);
  });
});

describe('the watch cache without permission to watch', () => {
  let kube: KubeApi;
  let cluster: KubeCluster | undefined;

  beforeAll(async () => {
    // opsbot may get, list and patch deployments, but not watch them.
    kube = await startKubeFake({ rolloutStepMs: 0, rbac: { user: 'opsbot' } });
    seedSampleApp(kube, 'apps');
    kube.applyRbac({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'opsbot', namespace: 'apps' },
      rules: [
        { apiGroups: ['apps'], resources: ['deployments', 'replicasets'], verbs: ['get', 'list', 'patch'] },
      ],
    });
    kube.applyRbac({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'opsbot', namespace: 'apps' },
      subjects: [{ kind: 'User', name: 'opsbot', apiGroup: 'rbac.authorization.k8s.io' }],
      roleRef: { kind: 'Role', name: 'opsbot', apiGroup: 'rbac.authorization.k8s.io' },
    });
  });

  afterAll(async () => {
    await cluster?.close();
    await kube.close();
  });

  it('says so, and plans read the API server instead', async () => {
    cluster = new KubeCluster(kubeClients(kube, [{ name: 'staging' }], 'staging').kc);
    const seen = events();
    await cluster.watchNamespaces([staging], seen.sink);
    expect(seen.synced).toEqual([]);
    expect(seen.failed.length).toBeGreaterThanOrEqual(2);
    expect(seen.failed.map((f) => (f.err as { statusCode?: number }).statusCode)).toContain(403);

    const before = kube.requests.length;
    const api = await cluster.getDeployment(staging, 'api', 'cache');
    expect(imageOf(api.template)).toBe('ghcr.io/acme/api:1.5.0');
    expect(kube.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toContain(
      'GET /apis/apps/v1/namespaces/apps/deployments/api',
    );
  });
});
