import { Agent } from 'node:http';
import { PassThrough } from 'node:stream';
import {
  ApisApi,
  AppsV1Api,
  CoreApi,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  Observable,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1DeploymentSpec,
  type V1Pod,
  type V1ReplicaSet,
  VersionApi,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KubeApi,
  type KubeClients,
  kubeClients,
  kubeFailure,
  seedSampleApp,
  startKubeFake,
} from '../fakes/kubernetes.js';

const REVISION = 'deployment.kubernetes.io/revision';
const NS = 'team';
const json = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

function manifest(
  name: string,
  image = `ghcr.io/acme/${name}:1.0.0`,
  spec: Partial<V1DeploymentSpec> = {},
): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
      ...spec,
    },
  };
}

const imagePatch = (image: string) => ({
  spec: { template: { spec: { containers: [{ name: 'app', image }] } } },
});
const revisionOf = (o: { metadata?: { annotations?: Record<string, string> } }) =>
  o.metadata?.annotations?.[REVISION];
const byRevision = (a: V1ReplicaSet, b: V1ReplicaSet) => Number(revisionOf(a)) - Number(revisionOf(b));
const progressing = (d: V1Deployment) => d.status?.conditions?.find((c) => c.type === 'Progressing');
const available = (d: V1Deployment) => d.status?.conditions?.find((c) => c.type === 'Available');
const isReady = (p: V1Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

async function waitFor<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('sandbox Kubernetes API, rollouts completing on write', () => {
  let api: KubeApi;
  let k: KubeClients;

  beforeAll(async () => {
    api = await startKubeFake({ rolloutStepMs: 0 });
    seedSampleApp(api, 'apps');
    k = kubeClients(api, [{ name: 'sandbox', namespace: NS }]);
    await k.core.createNamespace({ body: { metadata: { name: NS } } });
  });

  afterAll(async () => {
    await api?.close();
  });

  describe('authentication and discovery', () => {
    it('requires the bearer token and answers 401 with a v1 Status', async () => {
      const wrong = new KubeConfig();
      wrong.loadFromString(
        api.kubeconfigYaml([{ name: 'x', namespace: 'apps' }]).replace(api.token, 'not-the-token'),
      );
      const generic = KubernetesObjectApi.makeApiClient(wrong);
      const failure = await kubeFailure(
        generic.read({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'api', namespace: 'apps' },
        }),
      );
      expect(failure.code).toBe(401);
      expect(failure.status).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      });
      expect(
        (
          await kubeFailure(
            wrong.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'api', namespace: 'apps' }),
          )
        ).code,
      ).toBe(401);
      const ok = await k.apps.readNamespacedDeployment({ name: 'api', namespace: 'apps' });
      expect(ok.metadata?.name).toBe('api');
    });

    it('serves /version, /api, /apis and resource lists', async () => {
      expect((await k.kc.makeApiClient(VersionApi).getCode()).gitVersion).toMatch(/^v1\.\d+\.\d+/);
      expect((await k.kc.makeApiClient(CoreApi).getAPIVersions()).versions).toEqual(['v1']);
      const groups = await k.kc.makeApiClient(ApisApi).getAPIVersions();
      expect(groups.groups.map((g) => g.preferredVersion?.groupVersion)).toEqual(
        expect.arrayContaining(['apps/v1', 'networking.k8s.io/v1']),
      );
      const appsResources = await k.apps.getAPIResources();
      expect(appsResources.resources.map((r) => r.name)).toEqual(
        expect.arrayContaining(['deployments', 'replicasets', 'deployments/scale']),
      );
      const coreResources = await k.core.getAPIResources();
      const names = coreResources.resources.map((r) => r.name);
      expect(names).toEqual(
        expect.arrayContaining([
          'namespaces',
          'pods',
          'services',
          'configmaps',
          'secrets',
          'serviceaccounts',
        ]),
      );
      expect(coreResources.resources.find((r) => r.name === 'namespaces')?.namespaced).toBe(false);
    });
  });

  describe('object metadata', () => {
    it('stamps uid, creationTimestamp, a global resourceVersion and a generation that follows the spec', async () => {
      const created = await k.apps.createNamespacedDeployment({ namespace: NS, body: manifest('meta') });
      expect(created.metadata?.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
      expect(created.metadata?.generation).toBe(1);
      const rv1 = Number(created.metadata?.resourceVersion);
      expect(Number.isInteger(rv1) && rv1 > 0).toBe(true);

      const labelled = await k.apps.patchNamespacedDeployment(
        { name: 'meta', namespace: NS, body: { metadata: { labels: { team: 'core' } } } },
        merge,
      );
      const rv2 = Number(labelled.metadata?.resourceVersion);
      expect(rv2).toBeGreaterThan(rv1);
      expect(labelled.metadata?.generation).toBe(1);

      const updated = await k.apps.patchNamespacedDeployment(
        { name: 'meta', namespace: NS, body: imagePatch('ghcr.io/acme/meta:1.1.0') },
        strategic,
      );
      expect(updated.metadata?.generation).toBe(2);
      expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(rv2);

      const cm = await k.core.createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: 'after-meta' }, data: { a: '1' } },
      });
      expect(Number(cm.metadata?.resourceVersion)).toBeGreaterThan(Number(updated.metadata?.resourceVersion));
      expect(cm.metadata?.uid).not.toBe(created.metadata?.uid);
    });
  });

  describe('errors', () => {
    it('answers 404 NotFound with the real message and details', async () => {
      const failure = await kubeFailure(k.apps.readNamespacedDeployment({ name: 'missing', namespace: NS }));
      expect(failure.code).toBe(404);
      expect(failure.status).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'deployments.apps "missing" not found',
        reason: 'NotFound',
        details: { name: 'missing', group: 'apps', kind: 'deployments' },
        code: 404,
      });
    });

    it('answers 409 AlreadyExists when creating an existing object', async () => {
      await k.apps.createNamespacedDeployment({ namespace: NS, body: manifest('dup') });
      const failure = await kubeFailure(
        k.apps.createNamespacedDeployment({ namespace: NS, body: manifest('dup') }),
      );
      expect(failure.code).toBe(409);
      expect(failure.status).toMatchObject({
        reason: 'AlreadyExists',
        message: 'deployments.apps "dup" already exists',
      });
    });

    it('answers 422 Invalid for a missing name or negative replicas', async () => {
      const nameless = manifest('x');
      nameless.metadata = {};
      const noName = await kubeFailure(k.apps.createNamespacedDeployment({ namespace: NS, body: nameless }));
      expect(noName.code).toBe(422);
      expect(noName.status.message).toBe(
        'Deployment.apps "" is invalid: metadata.name: Required value: name or generateName is required',
      );

      const negative = await kubeFailure(
        k.apps.createNamespacedDeployment({
          namespace: NS,
          body: manifest('neg', undefined, { replicas: -1 }),
        }),
      );
      expect(negative.code).toBe(422);
      expect(negative.status).toMatchObject({
        reason: 'Invalid',
        message:
          'Deployment.apps "neg" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
        details: {
          name: 'neg',
          group: 'apps',
          kind: 'Deployment',
          causes: [{ reason: 'FieldValueInvalid', field: 'spec.replicas' }],
        },
      });
      expect((await kubeFailure(k.apps.readNamespacedDeployment({ name: 'neg', namespace: NS }))).code).toBe(
        404,
      );
    });

    it('answers 409 Conflict to a PUT with a stale resourceVersion, and accepts a fresh one', async () => {
      const original = await k.apps.createNamespacedDeployment({ namespace: NS, body: manifest('put') });
      await k.apps.patchNamespacedDeployment(
        { name: 'put', namespace: NS, body: { metadata: { labels: { touched: 'yes' } } } },
        merge,
      );
      const stale = { ...original, spec: { ...original.spec!, replicas: 1 } };
      const failure = await kubeFailure(
        k.apps.replaceNamespacedDeployment({ name: 'put', namespace: NS, body: stale }),
      );
      expect(failure.code).toBe(409);
      expect(failure.status).toMatchObject({
        reason: 'Conflict',
        message:
          'Operation cannot be fulfilled on deployments.apps "put": the object has been modified; please apply your changes to the latest version and try again',
        details: { name: 'put', group: 'apps', kind: 'deployments' },
      });
      const fresh = await k.apps.readNamespacedDeployment({ name: 'put', namespace: NS });
      fresh.spec!.replicas = 1;
      const replaced = await k.apps.replaceNamespacedDeployment({ name: 'put', namespace: NS, body: fresh });
      expect(replaced.spec?.replicas).toBe(1);
      expect(replaced.metadata?.uid).toBe(original.metadata?.uid);
    });

    it('answers 415 to a patch in an unsupported content type', async () => {
      const failure = await kubeFailure(
        k.apps.patchNamespacedDeployment(
          { name: 'meta', namespace: NS, body: { spec: { replicas: 1 } } },
          setHeaderOptions('Content-Type', 'text/plain'),
        ),
      );
      expect(failure.code).toBe(415);
      expect(failure.status.reason).toBe('UnsupportedMediaType');
      expect(failure.status.message).toContain('application/strategic-merge-patch+json');
    });

    it('answers 413 to a body over 5 MB and keeps serving', async () => {
      const big = 'x'.repeat(6 * 1024 * 1024);
      const failure = await kubeFailure(
        k.core.createNamespacedConfigMap({
          namespace: NS,
          body: { metadata: { name: 'big' }, data: { big } },
        }),
      );
      expect(failure.code).toBe(413);
      expect(failure.status.reason).toBe('RequestEntityTooLarge');
      expect((await kubeFailure(k.core.readNamespacedConfigMap({ name: 'big', namespace: NS }))).code).toBe(
        404,
      );
    });
  });

  describe('patching deployments', () => {
    beforeAll(async () => {
      const body = manifest('patchy');
      body.spec!.template.spec!.containers.push({
        name: 'sidecar',
        image: 'ghcr.io/acme/proxy:1.0.0',
        env: [{ name: 'MODE', value: 'a' }],
      });
      body.spec!.template.spec!.containers[0]!.env = [{ name: 'A', value: '1' }];
      await k.apps.createNamespacedDeployment({ namespace: NS, body });
    });

    const read = () => k.apps.readNamespacedDeployment({ name: 'patchy', namespace: NS });

    it('JSON patch: a failing test op is 422 and changes nothing', async () => {
      const before = await read();
      const failure = await kubeFailure(
        k.apps.patchNamespacedDeployment(
          {
            name: 'patchy',
            namespace: NS,
            body: [
              { op: 'test', path: '/spec/replicas', value: 7 },
              { op: 'replace', path: '/spec/replicas', value: 1 },
            ],
          },
          json,
        ),
      );
      expect(failure.code).toBe(422);
      expect(failure.status).toMatchObject({
        reason: 'Invalid',
        message: 'the server rejected our request due to an error in our request',
      });
      expect((await read()).metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    });

    it('JSON patch: replacing resourceVersion with a stale value is 409; with the current one it applies', async () => {
      const before = await read();
      const patch = (resourceVersion: string) => [
        { op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion },
        { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'ghcr.io/acme/patchy:2.0.0' },
      ];
      const stale = String(Number(before.metadata?.resourceVersion) - 1);
      const failure = await kubeFailure(
        k.apps.patchNamespacedDeployment({ name: 'patchy', namespace: NS, body: patch(stale) }, json),
      );
      expect(failure.code).toBe(409);
      expect(failure.status.reason).toBe('Conflict');
      const patched = await k.apps.patchNamespacedDeployment(
        { name: 'patchy', namespace: NS, body: patch(before.metadata!.resourceVersion!) },
        json,
      );
      expect(patched.spec?.template.spec?.containers[0]?.image).toBe('ghcr.io/acme/patchy:2.0.0');
    });

    it('merge patch: sets fields, null deletes, lists are replaced whole', async () => {
      const patched = await k.apps.patchNamespacedDeployment(
        {
          name: 'patchy',
          namespace: NS,
          body: { metadata: { labels: { tier: 'backend' } }, spec: { replicas: 4 } },
        },
        merge,
      );
      expect(patched.spec?.replicas).toBe(4);
      expect(patched.metadata?.labels).toEqual({ app: 'patchy', tier: 'backend' });
      const removed = await k.apps.patchNamespacedDeployment(
        { name: 'patchy', namespace: NS, body: { metadata: { labels: { tier: null } } } },
        merge,
      );
      expect(removed.metadata?.labels).toEqual({ app: 'patchy' });
    });

    it('strategic merge patch: containers and env merge by name; $patch: delete removes one', async () => {
      const patched = await k.apps.patchNamespacedDeployment(
        {
          name: 'patchy',
          namespace: NS,
          body: {
            spec: {
              template: {
                spec: {
                  containers: [
                    { name: 'app', image: 'ghcr.io/acme/patchy:3.0.0', env: [{ name: 'B', value: '2' }] },
                  ],
                },
              },
            },
          },
        },
        strategic,
      );
      const containers = patched.spec?.template.spec?.containers ?? [];
      expect(containers.map((c) => [c.name, c.image])).toEqual([
        ['app', 'ghcr.io/acme/patchy:3.0.0'],
        ['sidecar', 'ghcr.io/acme/proxy:1.0.0'],
      ]);
      expect(containers[0]?.env).toEqual([
        { name: 'A', value: '1' },
        { name: 'B', value: '2' },
      ]);
      const deleted = await k.apps.patchNamespacedDeployment(
        {
          name: 'patchy',
          namespace: NS,
          body: { spec: { template: { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } } } },
        },
        strategic,
      );
      expect(deleted.spec?.template.spec?.containers.map((c) => c.name)).toEqual(['app']);
    });

    it('strategic merge patch: a stale resourceVersion in the patch is 409', async () => {
      const failure = await kubeFailure(
        k.apps.patchNamespacedDeployment(
          {
            name: 'patchy',
            namespace: NS,
            body: { metadata: { resourceVersion: '1' }, spec: { replicas: 2 } },
          },
          strategic,
        ),
      );
      expect(failure.code).toBe(409);
      expect(failure.status.message).toContain('Operation cannot be fulfilled on deployments.apps "patchy"');
    });

    it('server-side apply: needs fieldManager, creates when absent, merges when present', async () => {
      const noManager = await kubeFailure(
        k.apps.patchNamespacedDeployment(
          { name: 'applied', namespace: NS, body: manifest('applied') },
          apply,
        ),
      );
      expect(noManager.code).toBe(422);
      expect(noManager.status.message).toContain('fieldManager: Required value');

      const created = await k.apps.patchNamespacedDeployment(
        { name: 'applied', namespace: NS, body: manifest('applied'), fieldManager: 'opsbot-test' },
        apply,
      );
      expect(created.metadata?.uid).toBeTruthy();
      expect(revisionOf(created)).toBe('1');
      const merged = await k.apps.patchNamespacedDeployment(
        {
          name: 'applied',
          namespace: NS,
          body: {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'applied' },
            spec: { replicas: 5 },
          },
          fieldManager: 'opsbot-test',
        },
        apply,
      );
      expect(merged.metadata?.uid).toBe(created.metadata?.uid);
      expect(merged.spec?.replicas).toBe(5);
      expect(merged.spec?.template.spec?.containers[0]?.image).toBe('ghcr.io/acme/applied:1.0.0');
    });

    it('records every request with method, path, query, content type, body and time', async () => {
      const since = Date.now();
      const count = api.requests.length;
      await k.apps.patchNamespacedDeployment(
        {
          name: 'patchy',
          namespace: NS,
          body: [{ op: 'replace', path: '/spec/replicas', value: 2 }],
          dryRun: 'All',
          fieldManager: 'opsbot',
        },
        json,
      );
      const [recorded] = api.requests.slice(count);
      expect(recorded).toMatchObject({
        method: 'PATCH',
        path: `/apis/apps/v1/namespaces/${NS}/deployments/patchy`,
        query: { dryRun: 'All', fieldManager: 'opsbot' },
        contentType: 'application/json-patch+json',
        body: [{ op: 'replace', path: '/spec/replicas', value: 2 }],
      });
      expect(recorded!.at).toBeGreaterThanOrEqual(since);
    });
  });

  describe('dryRun=All', () => {
    it('returns the would-be object on every write without persisting or bumping anything', async () => {
      await k.apps.createNamespacedDeployment({ namespace: NS, body: manifest('drywet') });
      const versionBefore = (await k.apps.listNamespacedDeployment({ namespace: NS })).metadata
        ?.resourceVersion;

      const created = await k.apps.createNamespacedDeployment({
        namespace: NS,
        body: manifest('dry'),
        dryRun: 'All',
      });
      expect(created.metadata?.name).toBe('dry');
      expect(created.metadata?.uid).toBeTruthy();
      const patched = await k.apps.patchNamespacedDeployment(
        { name: 'drywet', namespace: NS, body: imagePatch('ghcr.io/acme/drywet:9.9.9'), dryRun: 'All' },
        strategic,
      );
      expect(patched.spec?.template.spec?.containers[0]?.image).toBe('ghcr.io/acme/drywet:9.9.9');
      expect(patched.metadata?.generation).toBe(2);
      const scaled = await k.apps.replaceNamespacedDeploymentScale({
        name: 'drywet',
        namespace: NS,
        dryRun: 'All',
        body: {
          apiVersion: 'autoscaling/v1',
          kind: 'Scale',
          metadata: { name: 'drywet', namespace: NS },
          spec: { replicas: 9 },
        },
      });
      expect(scaled.spec?.replicas).toBe(9);
      await k.apps.deleteNamespacedDeployment({ name: 'drywet', namespace: NS, dryRun: 'All' });

      expect((await kubeFailure(k.apps.readNamespacedDeployment({ name: 'dry', namespace: NS }))).code).toBe(
        404,
      );
      const after = await k.apps.readNamespacedDeployment({ name: 'drywet', namespace: NS });
      expect(after.spec?.template.spec?.containers[0]?.image).toBe('ghcr.io/acme/drywet:1.0.0');
      expect(after.spec?.replicas).toBe(3);
      expect(after.metadata?.generation).toBe(1);
      expect(api.listReplicaSets(NS, 'drywet')).toHaveLength(1);
      expect((await k.apps.listNamespacedDeployment({ namespace: NS })).metadata?.resourceVersion).toBe(
        versionBefore,
      );
    });
  });

  describe('scale subresource', () => {
    beforeAll(async () => {
      await k.apps.createNamespacedDeployment({ namespace: NS, body: manifest('scaled') });
    });

    it('reads, replaces and patches autoscaling/v1 Scale', async () => {
      const scale = await k.apps.readNamespacedDeploymentScale({ name: 'scaled', namespace: NS });
      expect(scale).toMatchObject({
        kind: 'Scale',
        apiVersion: 'autoscaling/v1',
        spec: { replicas: 3 },
        status: { replicas: 3, selector: 'app=scaled' },
      });

      const replaced = await k.apps.replaceNamespacedDeploymentScale({
        name: 'scaled',
        namespace: NS,
        body: { ...scale, spec: { replicas: 5 } },
      });
      expect(replaced.spec?.replicas).toBe(5);
      expect(replaced.status?.replicas).toBe(5);
      const dep = await k.apps.readNamespacedDeployment({ name: 'scaled', namespace: NS });
      expect(dep.spec?.replicas).toBe(5);
      expect(dep.metadata?.generation).toBe(2);
      expect(
        (await k.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=scaled' })).items,
      ).toHaveLength(5);

      const patched = await k.apps.patchNamespacedDeploymentScale(
        { name: 'scaled', namespace: NS, body: { spec: { replicas: 2 } } },
        merge,
      );
      expect(patched.spec?.replicas).toBe(2);
      expect(
        (await k.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=scaled' })).items,
      ).toHaveLength(2);
    });

    it('answers 409 to a PUT with a stale resourceVersion and 422 to negative replicas', async () => {
      const scale = await k.apps.readNamespacedDeploymentScale({ name: 'scaled', namespace: NS });
      await k.apps.patchNamespacedDeployment(
        { name: 'scaled', namespace: NS, body: { metadata: { labels: { bump: '1' } } } },
        merge,
      );
      const stale = await kubeFailure(
        k.apps.replaceNamespacedDeploymentScale({
          name: 'scaled',
          namespace: NS,
          body: { ...scale, spec: { replicas: 7 } },
        }),
      );
      expect(stale.code).toBe(409);
      expect(stale.status.message).toContain('Operation cannot be fulfilled on deployments.apps "scaled"');
      const negative = await kubeFailure(
        k.apps.replaceNamespacedDeploymentScale({
          name: 'scaled',
          namespace: NS,
          body: { metadata: { name: 'scaled' }, spec: { replicas: -2 } },
        }),
      );
      expect(negative.code).toBe(422);
      expect(negative.status.message).toBe(
        'Scale.autoscaling "scaled" is invalid: spec.replicas: Invalid value: -2: must be greater than or equal to 0',
      );
    });
  });

  describe('ReplicaSets and revisions', () => {
    it('seeds revisions through the controller, as a real cluster keeps them', async () => {
      const api1 = await k.apps.readNamespacedDeployment({ name: 'api', namespace: 'apps' });
      expect(revisionOf(api1)).toBe('3');
      expect(api1.spec?.template.spec?.containers[0]?.image).toBe('ghcr.io/acme/api:1.5.0');
      expect(api1.status).toMatchObject({
        replicas: 3,
        updatedReplicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
        observedGeneration: 3,
      });

      const list = (
        await k.apps.listNamespacedReplicaSet({ namespace: 'apps', labelSelector: 'app=api' })
      ).items.sort(byRevision);
      expect(list.map(revisionOf)).toEqual(['1', '2', '3']);
      expect(list.map((rs) => rs.spec?.template?.spec?.containers[0]?.image)).toEqual([
        'ghcr.io/acme/api:1.4.0',
        'ghcr.io/acme/api:1.4.1',
        'ghcr.io/acme/api:1.5.0',
      ]);
      expect(list.map((rs) => rs.spec?.replicas)).toEqual([0, 0, 3]);
      expect(new Set(list.map((rs) => rs.metadata?.annotations?.['kubernetes.io/change-cause'])).size).toBe(
        3,
      );
      for (const rs of list) {
        const hash = rs.metadata?.labels?.['pod-template-hash'];
        expect(hash).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
        expect(rs.metadata?.name).toBe(`api-${hash}`);
        expect(rs.spec?.selector.matchLabels).toEqual({ app: 'api', 'pod-template-hash': hash });
        expect(rs.metadata?.annotations?.['deployment.kubernetes.io/desired-replicas']).toBe('3');
        expect(rs.metadata?.ownerReferences).toEqual([
          expect.objectContaining({
            kind: 'Deployment',
            name: 'api',
            uid: api1.metadata?.uid,
            controller: true,
          }),
        ]);
      }
      const one = await k.apps.readNamespacedReplicaSet({
        name: list[0]!.metadata!.name!,
        namespace: 'apps',
      });
      expect(revisionOf(one)).toBe('1');
      expect(
        api.listReplicaSets('apps', 'worker').map((rs) => rs.spec.template.spec.containers[0]?.image),
      ).toEqual(['ghcr.io/acme/worker:2.0.0', 'ghcr.io/acme/worker:2.1.0']);
      expect(api.listReplicaSets('apps', 'web')).toHaveLength(1);
      expect(api.getDeployment('apps', 'web')?.spec.replicas).toBe(2);
    });

    it('a rollback to an old template reuses its ReplicaSet with revision max+1 and a revision-history', async () => {
      seedSampleApp(api, 'undo');
      const before = (
        await k.apps.listNamespacedReplicaSet({ namespace: 'undo', labelSelector: 'app=api' })
      ).items.sort(byRevision);
      const first = before[0]!;
      const template = structuredClone(first.spec!.template!);
      delete template.metadata!.labels!['pod-template-hash'];
      const current = await k.apps.readNamespacedDeployment({ name: 'api', namespace: 'undo' });
      await k.apps.patchNamespacedDeployment(
        {
          name: 'api',
          namespace: 'undo',
          body: [
            { op: 'replace', path: '/metadata/resourceVersion', value: current.metadata?.resourceVersion },
            { op: 'replace', path: '/spec/template', value: template },
          ],
        },
        json,
      );
      const after = (
        await k.apps.listNamespacedReplicaSet({ namespace: 'undo', labelSelector: 'app=api' })
      ).items.sort(byRevision);
      expect(after.map((rs) => rs.metadata?.name)).toEqual(
        [before[1], before[2], first].map((rs) => rs?.metadata?.name),
      );
      const reused = after[2]!;
      expect(revisionOf(reused)).toBe('4');
      expect(reused.metadata?.annotations?.['deployment.kubernetes.io/revision-history']).toBe('1');
      expect(reused.spec?.replicas).toBe(3);
      expect(after[1]?.spec?.replicas).toBe(0);
      const dep = await k.apps.readNamespacedDeployment({ name: 'api', namespace: 'undo' });
      expect(revisionOf(dep)).toBe('4');
      expect(dep.spec?.template.spec?.containers[0]?.image).toBe('ghcr.io/acme/api:1.4.0');
    });

    it('copies deployment annotations to its ReplicaSet except controller-owned ones, and deletes both together', async () => {
      const body = manifest('annotated');
      body.metadata!.annotations = {
        team: 'payments',
        'kubectl.kubernetes.io/last-applied-configuration': '{"kind":"Deployment"}',
        'deployment.kubernetes.io/revision-history': '7',
      };
      await k.apps.createNamespacedDeployment({ namespace: NS, body });
      const replicaSets = () =>
        k.apps.listNamespacedReplicaSet({ namespace: NS, labelSelector: 'app=annotated' });
      const [rs] = (await replicaSets()).items;
      expect(rs?.metadata?.annotations).toEqual({
        team: 'payments',
        'deployment.kubernetes.io/revision': '1',
        'deployment.kubernetes.io/desired-replicas': '3',
        'deployment.kubernetes.io/max-replicas': '4',
      });

      const deleted = await k.apps.deleteNamespacedDeployment({ name: 'annotated', namespace: NS });
      expect(deleted).toMatchObject({
        kind: 'Status',
        status: 'Success',
        details: { name: 'annotated', group: 'apps', kind: 'deployments' },
      });
      expect((await replicaSets()).items).toEqual([]);
      expect(
        (await k.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=annotated' })).items,
      ).toEqual([]);
      expect(
        (await kubeFailure(k.apps.deleteNamespacedDeployment({ name: 'annotated', namespace: NS }))).code,
      ).toBe(404);
    });

    it('keeps only spec.revisionHistoryLimit old ReplicaSets', async () => {
      await k.apps.createNamespacedDeployment({
        namespace: NS,
        body: manifest('short', undefined, { revisionHistoryLimit: 1 }),
      });
      for (const version of ['2.0.0', '3.0.0']) {
        await k.apps.patchNamespacedDeployment(
          { name: 'short', namespace: NS, body: imagePatch(`ghcr.io/acme/short:${version}`) },
          strategic,
        );
      }
      const list = (
        await k.apps.listNamespacedReplicaSet({ namespace: NS, labelSelector: 'app=short' })
      ).items.sort(byRevision);
      expect(list.map(revisionOf)).toEqual(['2', '3']);
    });

    it('lists deployments across namespaces with label selectors', async () => {
      const all = await k.apps.listDeploymentForAllNamespaces({ labelSelector: 'app=api' });
      expect(all.items.map((d) => `${d.metadata?.namespace}/${d.metadata?.name}`)).toEqual([
        'apps/api',
        'undo/api',
      ]);
      const set = await k.apps.listNamespacedDeployment({
        namespace: 'apps',
        labelSelector: 'app in (web,worker)',
      });
      expect(set.items.map((d) => d.metadata?.name)).toEqual(['web', 'worker']);
      const notApi = await k.apps.listNamespacedDeployment({ namespace: 'apps', labelSelector: 'app!=api' });
      expect(notApi.items.map((d) => d.metadata?.name)).toEqual(['web', 'worker']);
    });
  });

  describe('pods', () => {
    const webPods = async () =>
      (await k.core.listNamespacedPod({ namespace: 'apps', labelSelector: 'app=web' })).items;

    it('synthesizes stable, ready pods for each ReplicaSet', async () => {
      const [rs] = api.listReplicaSets('apps', 'web');
      const pods = await webPods();
      expect(pods).toHaveLength(2);
      for (const pod of pods) {
        expect(pod.metadata?.name).toMatch(
          new RegExp(`^${rs!.metadata.name}-[bcdfghjklmnpqrstvwxz2456789]{5}$`),
        );
        expect(pod.metadata?.labels).toMatchObject({
          app: 'web',
          'pod-template-hash': rs!.metadata.labels?.['pod-template-hash'],
        });
        expect(pod.status?.phase).toBe('Running');
        expect(isReady(pod)).toBe(true);
        expect(pod.status?.containerStatuses?.[0]).toMatchObject({
          image: 'ghcr.io/acme/web:3.2.0',
          ready: true,
          restartCount: 0,
        });
      }
      expect((await webPods()).map((p) => p.metadata?.name)).toEqual(pods.map((p) => p.metadata?.name));
      const one = await k.core.readNamespacedPod({ name: pods[0]!.metadata!.name!, namespace: 'apps' });
      expect(one.metadata?.uid).toBe(pods[0]?.metadata?.uid);
    });

    it('reports troubled pods, and the deployment status follows', async () => {
      api.setPodTrouble('apps', 'web', { notReady: 1, restarts: 4 });
      const pods = await webPods();
      expect(pods.filter(isReady)).toHaveLength(1);
      const sick = pods.find((p) => !isReady(p))!;
      expect(sick.status?.containerStatuses?.[0]).toMatchObject({
        ready: false,
        restartCount: 4,
        state: { waiting: { reason: 'CrashLoopBackOff' } },
      });
      const dep = await k.apps.readNamespacedDeployment({ name: 'web', namespace: 'apps' });
      expect(dep.status).toMatchObject({
        replicas: 2,
        readyReplicas: 1,
        availableReplicas: 1,
        unavailableReplicas: 1,
      });
      expect(available(dep)?.status).toBe('False');

      api.setPodTrouble('apps', 'web', {});
      expect((await webPods()).filter(isReady)).toHaveLength(2);
      expect(
        available(await k.apps.readNamespacedDeployment({ name: 'web', namespace: 'apps' }))?.status,
      ).toBe('True');
    });

    it('replaces a deleted pod with a new one', async () => {
      const [victim, survivor] = await webPods();
      await k.core.deleteNamespacedPod({ name: victim!.metadata!.name!, namespace: 'apps' });
      const names = (await webPods()).map((p) => p.metadata?.name);
      expect(names).toHaveLength(2);
      expect(names).toContain(survivor?.metadata?.name);
      expect(names).not.toContain(victim?.metadata?.name);
    });
  });

  describe('namespaces', () => {
    it('creates, lists by label, reads and patches namespaces in every patch style', async () => {
      const created = await k.core.createNamespace({
        body: { metadata: { name: 'preview-x', labels: { 'opsbot.dev/preview': 'true' } } },
      });
      expect(created.status?.phase).toBe('Active');
      expect(created.metadata?.labels?.['kubernetes.io/metadata.name']).toBe('preview-x');
      const listed = await k.core.listNamespace({ labelSelector: 'opsbot.dev/preview=true' });
      expect(listed.items.map((n) => n.metadata?.name)).toEqual(['preview-x']);
      expect((await k.core.readNamespace({ name: 'preview-x' })).metadata?.uid).toBe(created.metadata?.uid);

      await k.core.patchNamespace({ name: 'preview-x', body: { metadata: { labels: { a: '1' } } } }, merge);
      await k.core.patchNamespace(
        { name: 'preview-x', body: { metadata: { labels: { b: '2' } } } },
        strategic,
      );
      const applied = await k.core.patchNamespace(
        {
          name: 'preview-x',
          body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'preview-x', labels: { c: '3' } } },
          fieldManager: 'opsbot-test',
        },
        apply,
      );
      expect(applied.metadata?.labels).toMatchObject({
        'opsbot.dev/preview': 'true',
        a: '1',
        b: '2',
        c: '3',
      });
    });

    it('deletes a namespace with everything in it', async () => {
      await k.core.createNamespace({ body: { metadata: { name: 'doomed' } } });
      await k.core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'cfg' } } });
      await k.apps.createNamespacedDeployment({ namespace: 'doomed', body: manifest('app') });
      expect(api.getObject('/api/v1/namespaces/doomed/configmaps/cfg')).toBeDefined();

      const answer = (await k.core.deleteNamespace({ name: 'doomed' })) as unknown as {
        kind: string;
        status: unknown;
      };
      expect(answer.kind).toBe('Namespace');
      expect(answer.status).toEqual({ phase: 'Terminating' });

      const gone = await kubeFailure(k.core.readNamespace({ name: 'doomed' }));
      expect(gone.status.message).toBe('namespaces "doomed" not found');
      expect(
        (await kubeFailure(k.core.readNamespacedConfigMap({ name: 'cfg', namespace: 'doomed' }))).code,
      ).toBe(404);
      expect(api.getObject('/apis/apps/v1/namespaces/doomed/deployments/app')).toBeUndefined();
      expect(api.listReplicaSets('doomed')).toEqual([]);
      expect(api.namespaces().map((n) => n.metadata.name)).not.toContain('doomed');
    });

    it('refuses to write into a missing namespace or to delete a system one', async () => {
      const missing = await kubeFailure(
        k.core.createNamespacedConfigMap({ namespace: 'nope', body: { metadata: { name: 'cfg' } } }),
      );
      expect(missing.code).toBe(404);
      expect(missing.status).toMatchObject({
        reason: 'NotFound',
        message: 'namespaces "nope" not found',
        details: { name: 'nope', kind: 'namespaces' },
      });
      expect((await kubeFailure(k.core.deleteNamespace({ name: 'default' }))).code).toBe(403);
    });
  });

  describe('generic namespaced objects', () => {
    it('creates, reads, lists, replaces, patches and deletes configmaps', async () => {
      const created = await k.core.createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: 'cfg', labels: { kind: 'settings' } }, data: { a: '1' } },
      });
      expect(
        (await k.core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'kind=settings' })).items.map(
          (c) => c.metadata?.name,
        ),
      ).toEqual(['cfg']);
      const replaced = await k.core.replaceNamespacedConfigMap({
        name: 'cfg',
        namespace: NS,
        body: { ...created, data: { a: '2' } },
      });
      expect(replaced.data).toEqual({ a: '2' });
      const stale = await kubeFailure(
        k.core.replaceNamespacedConfigMap({
          name: 'cfg',
          namespace: NS,
          body: { ...created, data: { a: '3' } },
        }),
      );
      expect(stale.status.message).toContain('Operation cannot be fulfilled on configmaps "cfg"');
      const patched = await k.core.patchNamespacedConfigMap(
        { name: 'cfg', namespace: NS, body: { data: { b: '1' } } },
        merge,
      );
      expect(patched.data).toEqual({ a: '2', b: '1' });
      const deleted = await k.core.deleteNamespacedConfigMap({ name: 'cfg', namespace: NS });
      expect(deleted).toMatchObject({
        kind: 'Status',
        status: 'Success',
        details: { name: 'cfg', kind: 'configmaps' },
      });
      const gone = await kubeFailure(k.core.readNamespacedConfigMap({ name: 'cfg', namespace: NS }));
      expect(gone.status).toMatchObject({
        message: 'configmaps "cfg" not found',
        details: { name: 'cfg', kind: 'configmaps' },
      });
    });

    it('handles secrets and service accounts like the API server', async () => {
      const secret = await k.core.createNamespacedSecret({
        namespace: NS,
        body: { metadata: { name: 'token' }, stringData: { key: 'value' } },
      });
      expect(secret.data).toEqual({ key: Buffer.from('value').toString('base64') });
      expect(secret.type).toBe('Opaque');
      await k.core.createNamespacedServiceAccount({
        namespace: NS,
        body: { metadata: { name: 'deployer' } },
      });
      expect(
        (await k.core.readNamespacedServiceAccount({ name: 'deployer', namespace: NS })).metadata?.name,
      ).toBe('deployer');
    });

    it('drives ingresses and services through KubernetesObjectApi, including server-side apply', async () => {
      const ingress = {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: 'web', namespace: NS },
        spec: { rules: [{ host: 'web.example.test' }] },
      };
      await k.objects.create(ingress);
      const read = await k.objects.read({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: 'web', namespace: NS },
      });
      expect((read as { spec?: { rules?: { host?: string }[] } }).spec?.rules?.[0]?.host).toBe(
        'web.example.test',
      );
      const list = await k.objects.list('networking.k8s.io/v1', 'Ingress', NS);
      expect(list.items.map((i) => i.metadata?.name)).toEqual(['web']);
      await k.objects.patch(
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name: 'web', namespace: NS, labels: { patched: 'yes' } },
        },
        undefined,
        undefined,
        undefined,
        undefined,
        PatchStrategy.MergePatch,
      );
      expect(
        api.getObject(`/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/web`)?.metadata.labels,
      ).toEqual({ patched: 'yes' });
      await k.objects.delete({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: 'web', namespace: NS },
      });
      expect(api.getObject(`/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/web`)).toBeUndefined();

      const service = {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: NS },
        spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
      };
      await k.objects.patch(
        service,
        undefined,
        undefined,
        'opsbot-test',
        undefined,
        PatchStrategy.ServerSideApply,
      );
      const stored = api.getObject(`/api/v1/namespaces/${NS}/services/web`) as
        | { spec?: { clusterIP?: string; ports?: unknown[] } }
        | undefined;
      expect(stored?.spec?.clusterIP).toMatch(/^10\.96\./);
      expect(stored?.spec?.ports).toEqual([{ port: 80, protocol: 'TCP', targetPort: 80 }]);
    });

    it('stores objects of any other group and plural', async () => {
      const custom = k.kc.makeApiClient(CustomObjectsApi);
      const where = { group: 'example.com', version: 'v1', namespace: NS, plural: 'widgets' };
      await custom.createNamespacedCustomObject({
        ...where,
        body: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 2 } },
      });
      const got = (await custom.getNamespacedCustomObject({ ...where, name: 'w1' })) as {
        kind: string;
        spec: { size: number };
      };
      expect(got).toMatchObject({ kind: 'Widget', spec: { size: 2 } });
      const listed = (await custom.listNamespacedCustomObject(where)) as {
        items: { metadata: { name: string } }[];
      };
      expect(listed.items.map((i) => i.metadata.name)).toEqual(['w1']);
      await custom.deleteNamespacedCustomObject({ ...where, name: 'w1' });
      expect((await kubeFailure(custom.getNamespacedCustomObject({ ...where, name: 'w1' }))).code).toBe(404);
    });
  });

  describe('state helpers', () => {
    it('applyDeployment replaces a stored object as a write would, and the API sees it', async () => {
      const before = api.getDeployment('apps', 'worker')!;
      const applied = api.applyDeployment('apps', { ...before, spec: { ...before.spec, replicas: 4 } });
      expect(applied.metadata.uid).toBe(before.metadata.uid);
      expect(applied.metadata.generation).toBe((before.metadata.generation ?? 0) + 1);
      expect(Number(applied.metadata.resourceVersion)).toBeGreaterThan(
        Number(before.metadata.resourceVersion),
      );
      const seen = await k.apps.readNamespacedDeployment({ name: 'worker', namespace: 'apps' });
      expect(seen.spec?.replicas).toBe(4);
      expect(seen.status?.availableReplicas).toBe(4);
      expect(revisionOf(seen)).toBe('2');

      const fresh = api.applyDeployment('helper-ns', manifest('solo'));
      expect(fresh.metadata.namespace).toBe('helper-ns');
      expect(api.namespaces().map((n) => n.metadata.name)).toContain('helper-ns');
      const pod = (await k.core.listNamespacedPod({ namespace: 'helper-ns' })).items[0]!;
      expect(api.getObject(`/api/v1/namespaces/helper-ns/pods/${pod.metadata?.name}`)?.metadata.uid).toBe(
        pod.metadata?.uid,
      );
      expect(api.getObject('/api/v1/namespaces/helper-ns/pods/nope')).toBeUndefined();
    });
  });

  describe('fault injection', () => {
    const readApi = () => k.apps.readNamespacedDeployment({ name: 'api', namespace: 'apps' });

    it('answers 429 with Retry-After, then recovers', async () => {
      api.failNext({ path: /\/deployments\/api$/, status: 429, retryAfterSeconds: 7 });
      const failure = await kubeFailure(readApi());
      expect(failure.code).toBe(429);
      expect(failure.headers['retry-after']).toBe('7');
      expect(failure.status).toMatchObject({
        kind: 'Status',
        reason: 'TooManyRequests',
        details: { retryAfterSeconds: 7 },
      });
      expect((await readApi()).metadata?.name).toBe('api');
    });

    it('matches method and path, fails the given number of times, and can be cleared', async () => {
      api.failNext({ method: 'PATCH', status: 503, times: 2 });
      expect((await readApi()).metadata?.name).toBe('api');
      const patch = () =>
        k.apps.patchNamespacedDeployment(
          { name: 'api', namespace: 'apps', body: { metadata: { labels: { x: '1' } } } },
          merge,
        );
      expect((await kubeFailure(patch())).status.reason).toBe('ServiceUnavailable');
      expect((await kubeFailure(patch())).code).toBe(503);
      expect((await patch()).metadata?.labels?.x).toBe('1');

      api.failNext({ status: 500 });
      expect((await kubeFailure(readApi())).status.reason).toBe('InternalError');
      api.failNext({ status: 502, message: 'upstream hiccup' });
      expect((await kubeFailure(readApi())).status).toMatchObject({ code: 502, message: 'upstream hiccup' });

      api.failNext({ status: 500, times: 5 });
      api.clearFaults();
      expect((await readApi()).metadata?.name).toBe('api');
    });
  });
});

describe('sandbox Kubernetes API, rollouts stepping over time', () => {
  const STEP_MS = 20;
  let api: KubeApi;
  let k: KubeClients;
  const readDep = (name: string) => k.apps.readNamespacedDeployment({ name, namespace: 'roll' });
  const complete = async (name: string) => {
    const d = await readDep(name);
    return (
      progressing(d)?.reason === 'NewReplicaSetAvailable' &&
      (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
      d
    );
  };

  beforeAll(async () => {
    api = await startKubeFake({ rolloutStepMs: STEP_MS, progressDeadlineScale: 0.01 });
    k = kubeClients(api, [{ name: 'sandbox', namespace: 'roll' }]);
    await k.core.createNamespace({ body: { metadata: { name: 'roll' } } });
  });

  afterAll(async () => {
    await api?.close();
  });

  it('creates pods one step at a time and reports observedGeneration, counts and conditions', async () => {
    const created = await k.apps.createNamespacedDeployment({ namespace: 'roll', body: manifest('step') });
    expect(created.status?.observedGeneration).toBeUndefined();
    const seen = new Set<number>();
    const done = await waitFor(async () => {
      const d = await readDep('step');
      seen.add(d.status?.updatedReplicas ?? 0);
      return progressing(d)?.reason === 'NewReplicaSetAvailable' && d;
    });
    expect([...seen]).toEqual(expect.arrayContaining([1, 2, 3]));
    expect(done.status).toMatchObject({
      observedGeneration: 1,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
    });
    expect(done.status?.unavailableReplicas).toBeUndefined();
    expect(available(done)).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(progressing(done)?.message).toMatch(/^ReplicaSet "step-[a-z0-9]+" has successfully progressed\.$/);
  });

  it('rolls an image change over with a surge pod, observing the new generation after the first step', async () => {
    const patched = await k.apps.patchNamespacedDeployment(
      { name: 'step', namespace: 'roll', body: imagePatch('ghcr.io/acme/step:2.0.0') },
      strategic,
    );
    expect(patched.metadata?.generation).toBe(2);
    expect(patched.status?.observedGeneration).toBe(1);
    const reasons = new Set<string | undefined>();
    const surge = await waitFor(async () => {
      const d = await readDep('step');
      return d.status?.replicas === 4 && d;
    });
    expect(surge.status).toMatchObject({ observedGeneration: 2, unavailableReplicas: 1 });
    expect(['NewReplicaSetCreated', 'ReplicaSetUpdated']).toContain(progressing(surge)?.reason);
    await waitFor(async () => {
      reasons.add(progressing(await readDep('step'))?.reason);
      return complete('step');
    });
    expect(reasons).toContain('ReplicaSetUpdated');
    const [old, current] = api.listReplicaSets('roll', 'step');
    expect(old?.spec.replicas).toBe(0);
    expect(current).toMatchObject({ spec: { replicas: 3 }, status: { readyReplicas: 3 } });
    expect(revisionOf(current!)).toBe('2');
  });

  it('moves replicas gradually toward a new scale', async () => {
    await k.apps.patchNamespacedDeploymentScale(
      { name: 'step', namespace: 'roll', body: { spec: { replicas: 5 } } },
      merge,
    );
    const seen = new Set<number>();
    await waitFor(async () => {
      const d = await readDep('step');
      seen.add(d.status?.replicas ?? 0);
      return d.status?.availableReplicas === 5 && d;
    });
    expect([...seen]).toEqual(expect.arrayContaining([4, 5]));
  });

  it('does not roll out a paused deployment until it is resumed', async () => {
    await k.apps.patchNamespacedDeployment(
      { name: 'step', namespace: 'roll', body: { spec: { paused: true } } },
      merge,
    );
    await waitFor(async () => progressing(await readDep('step'))?.reason === 'DeploymentPaused');
    await k.apps.patchNamespacedDeployment(
      { name: 'step', namespace: 'roll', body: imagePatch('ghcr.io/acme/step:3.0.0') },
      strategic,
    );
    await new Promise((r) => setTimeout(r, STEP_MS * 6));
    expect(api.listReplicaSets('roll', 'step')).toHaveLength(2);
    const paused = await readDep('step');
    expect(paused.status?.updatedReplicas ?? 0).toBe(0);
    expect(paused.status?.observedGeneration).toBe(paused.metadata?.generation);
    expect(progressing(paused)).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' });

    await k.apps.patchNamespacedDeployment(
      { name: 'step', namespace: 'roll', body: { spec: { paused: false } } },
      merge,
    );
    const resumed = await waitFor(() => complete('step'));
    expect(revisionOf(resumed)).toBe('3');
    expect(api.listReplicaSets('roll', 'step')).toHaveLength(3);
  });

  it('settle() finishes a rollout at once', async () => {
    await k.apps.patchNamespacedDeployment(
      { name: 'step', namespace: 'roll', body: imagePatch('ghcr.io/acme/step:4.0.0') },
      strategic,
    );
    await api.settle();
    const d = await readDep('step');
    expect(progressing(d)?.reason).toBe('NewReplicaSetAvailable');
    expect(d.status).toMatchObject({
      observedGeneration: d.metadata?.generation,
      updatedReplicas: 5,
      availableReplicas: 5,
      replicas: 5,
    });
  });

  it('marks a rollout of a broken image ProgressDeadlineExceeded after the scaled deadline', async () => {
    await k.apps.createNamespacedDeployment({
      namespace: 'roll',
      body: manifest('stuck', undefined, { progressDeadlineSeconds: 30 }),
    });
    await api.settle();
    const started = Date.now();
    await k.apps.patchNamespacedDeployment(
      { name: 'stuck', namespace: 'roll', body: imagePatch('ghcr.io/acme/stuck:2.0.0-broken') },
      strategic,
    );
    const timedOut = await waitFor(async () => {
      const d = await readDep('stuck');
      return progressing(d)?.reason === 'ProgressDeadlineExceeded' && d;
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(progressing(timedOut)).toMatchObject({
      status: 'False',
      message: expect.stringMatching(/^ReplicaSet "stuck-[a-z0-9]+" has timed out progressing\.$/),
    });
    expect(timedOut.status).toMatchObject({
      replicas: 4,
      updatedReplicas: 1,
      availableReplicas: 3,
      unavailableReplicas: 1,
    });
    expect(available(timedOut)?.status).toBe('True');
    const [, broken] = api.listReplicaSets('roll', 'stuck');
    const pods = (
      await k.core.listNamespacedPod({
        namespace: 'roll',
        labelSelector: `pod-template-hash=${broken!.metadata.labels?.['pod-template-hash']}`,
      })
    ).items;
    expect(pods).toHaveLength(1);
    expect(pods[0]?.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('CrashLoopBackOff');
  });

  it('close() stops the controller and does not wait for connections still in flight', async () => {
    const other = await startKubeFake({ rolloutStepMs: 50 });
    const clients = kubeClients(other, [{ name: 'sandbox', namespace: 'default' }]);
    await clients.apps.createNamespacedDeployment({
      namespace: 'default',
      body: manifest('busy', undefined, { replicas: 5 }),
    });

    // A keep-alive client still uploading its body: without closeAllConnections() close() would wait for it.
    const agent = new Agent({ keepAlive: true });
    const upload = new PassThrough();
    upload.write('{"metadata":');
    const slowUpload = {
      middleware: [
        {
          pre: (ctx: { setAgent(a: Agent): void; setBody(b: unknown): void }) => {
            ctx.setAgent(agent);
            ctx.setBody(upload);
            return new Observable(Promise.resolve(ctx));
          },
          post: (res: unknown) => new Observable(Promise.resolve(res)),
        },
      ],
      middlewareMergeStrategy: 'append' as const,
    };
    const inFlight = clients.core
      .createNamespacedConfigMap(
        { namespace: 'default', body: { metadata: { name: 'x' } } },
        slowUpload as never,
      )
      .then(
        () => 'answered',
        () => 'cut off',
      );
    await new Promise((r) => setTimeout(r, 50));

    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(1000);
    const version = other.getDeployment('default', 'busy')?.metadata.resourceVersion;
    expect(await inFlight).toBe('cut off');
    await new Promise((r) => setTimeout(r, 200));
    expect(other.getDeployment('default', 'busy')?.metadata.resourceVersion).toBe(version);
    await expect(
      clients.apps.readNamespacedDeployment({ name: 'busy', namespace: 'default' }),
    ).rejects.toThrow(/ECONNREFUSED/);
    agent.destroy();
  });
});
