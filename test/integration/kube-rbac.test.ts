import { AuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ExternalServiceError } from '../../src/core/errors.js';
import { KubeCluster } from '../../src/kubernetes/cluster.js';
import type { ClusterTarget } from '../../src/ports.js';
import { type KubeApi, kubeClients, kubeFailure, seedSampleApp, startKubeFake } from '../fakes/kubernetes.js';

const OPSBOT = 'system:serviceaccount:opsbot:opsbot';
const ALICE = { user: 'alice@corp.example', groups: ['opsbot:oncall', 'opsbot:sre'] };
const RBAC = 'rbac.authorization.k8s.io';

/** What opsbot's ServiceAccount may do: review access, and impersonate exactly these names. */
function grantOpsbot(kube: KubeApi, users: string[], groups: string[]) {
  kube.applyRbac({
    apiVersion: `${RBAC}/v1`,
    kind: 'ClusterRole',
    metadata: { name: 'opsbot' },
    rules: [
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
      { apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: users },
      { apiGroups: [''], resources: ['groups'], verbs: ['impersonate'], resourceNames: groups },
    ],
  });
  kube.applyRbac({
    apiVersion: `${RBAC}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: { name: 'opsbot' },
    subjects: [{ kind: 'ServiceAccount', name: 'opsbot', namespace: 'opsbot' }],
    roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'opsbot' },
  });
}

/** Lets the group patch deployments (and read them) in one namespace, through a RoleBinding to a ClusterRole. */
function grantDeployers(kube: KubeApi, namespace: string, group: string) {
  kube.applyRbac({
    apiVersion: `${RBAC}/v1`,
    kind: 'ClusterRole',
    metadata: { name: 'deployer' },
    rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'patch'] }],
  });
  kube.applyRbac({
    apiVersion: `${RBAC}/v1`,
    kind: 'RoleBinding',
    metadata: { name: 'deployers', namespace },
    subjects: [{ kind: 'Group', apiGroup: RBAC, name: group }],
    roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'deployer' },
  });
}

describe('the Kubernetes fake with RBAC: SubjectAccessReview and impersonation over HTTP', () => {
  let kube: KubeApi;
  let cluster: KubeCluster;
  const target: ClusterTarget = { environment: 'staging', context: 'staging', namespace: 'apps' };

  beforeAll(async () => {
    kube = await startKubeFake({ rolloutStepMs: 0, rbac: { user: OPSBOT } });
    seedSampleApp(kube, 'apps');
    kube.ensureNamespace('other');
    cluster = new KubeCluster(kubeClients(kube, [{ name: 'staging' }]).kc);
  });
  afterAll(async () => {
    await kube?.close();
  });
  beforeEach(() => {
    for (const [kind, name, ns] of [
      ['ClusterRole', 'opsbot'],
      ['ClusterRoleBinding', 'opsbot'],
      ['ClusterRole', 'deployer'],
      ['RoleBinding', 'deployers', 'apps'],
      ['RoleBinding', 'deployers', 'other'],
    ] as const)
      kube.deleteRbac(kind, name, ns);
  });

  it('answers a SubjectAccessReview from RoleBindings, naming the binding that allowed it', async () => {
    grantOpsbot(kube, [ALICE.user], ALICE.groups);
    const patch = { verb: 'patch', group: 'apps', resource: 'deployments', name: 'api' };
    expect(await cluster.reviewAccess(target, ALICE, patch)).toEqual({ allowed: false, reason: '' });

    grantDeployers(kube, 'other', 'opsbot:oncall');
    // A RoleBinding grants only in its own namespace.
    expect((await cluster.reviewAccess(target, ALICE, patch)).allowed).toBe(false);

    grantDeployers(kube, 'apps', 'opsbot:oncall');
    expect(await cluster.reviewAccess(target, ALICE, patch)).toEqual({
      allowed: true,
      reason:
        'RBAC: allowed by RoleBinding "deployers/apps" of ClusterRole "deployer" to Group "opsbot:oncall"',
    });
    // deployments does not cover its scale subresource.
    expect(
      (
        await cluster.reviewAccess(target, ALICE, {
          verb: 'update',
          group: 'apps',
          resource: 'deployments',
          subresource: 'scale',
          name: 'api',
        })
      ).allowed,
    ).toBe(false);
  });

  it('refuses a SubjectAccessReview from a caller without create on subjectaccessreviews', async () => {
    const { kc } = kubeClients(kube, [{ name: 'staging' }]);
    const failure = await kubeFailure(
      kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
        body: { spec: { user: 'alice', resourceAttributes: { verb: 'get', resource: 'pods' } } },
      }),
    );
    expect(failure.code).toBe(403);
    expect(failure.status.message).toBe(
      `subjectaccessreviews.authorization.k8s.io is forbidden: User "${OPSBOT}" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope`,
    );
  });

  it('acts as the impersonated user, with every group on its own header line', async () => {
    grantOpsbot(kube, [ALICE.user], ALICE.groups);
    grantDeployers(kube, 'apps', 'opsbot:sre');
    const asAlice = { ...target, identity: ALICE };
    await cluster.patchDeployment(
      asAlice,
      'api',
      { spec: { template: { metadata: { annotations: { who: 'alice' } } } } },
      'strategic',
    );
    const sent = kube.requests
      .filter((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/api'))
      .at(-1);
    expect(sent?.impersonate).toEqual({ user: ALICE.user, groups: ALICE.groups });

    // Alice may patch, but not read the scale: the API server authorizes the impersonated identity.
    const err = await cluster.getScale(asAlice, 'api').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalServiceError);
    expect((err as ExternalServiceError).userMessage).toContain(
      `deployments.apps "api" is forbidden: User "${ALICE.user}" cannot get resource "deployments/scale" in API group "apps" in the namespace "apps"`,
    );
  });

  it('refuses impersonation of a user or a group opsbot may not impersonate, with 403', async () => {
    grantOpsbot(kube, [ALICE.user], ['opsbot:oncall']);
    grantDeployers(kube, 'apps', 'opsbot:oncall');
    const mallory = { ...target, identity: { user: 'mallory@corp.example', groups: ['opsbot:oncall'] } };
    const asUser = await cluster.getDeployment(mallory, 'api').catch((e: unknown) => e);
    expect((asUser as ExternalServiceError).userMessage).toContain(
      `users "mallory@corp.example" is forbidden: User "${OPSBOT}" cannot impersonate resource "users" in API group "" at the cluster scope`,
    );
    const extraGroup = { ...target, identity: ALICE };
    const asGroup = await cluster.getDeployment(extraGroup, 'api').catch((e: unknown) => e);
    expect((asGroup as ExternalServiceError).userMessage).toContain(
      `groups "opsbot:sre" is forbidden: User "${OPSBOT}" cannot impersonate resource "groups" in API group "" at the cluster scope`,
    );
    // Groups without a user are refused outright, as the real impersonation filter does.
    const groupsOnly = await fetch(`${kube.url}/apis/apps/v1/namespaces/apps/deployments/api`, {
      headers: { Authorization: `Bearer ${kube.token}`, 'Impersonate-Group': 'opsbot:oncall' },
    });
    expect(groupsOnly.status).toBe(500);
    expect(((await groupsOnly.json()) as { message: string }).message).toContain(
      'without impersonating a user',
    );
  });

  it('without the rbac option, authorizes everything as before (AlwaysAllow)', async () => {
    const open = await startKubeFake({ rolloutStepMs: 0 });
    try {
      seedSampleApp(open, 'apps');
      const c = new KubeCluster(kubeClients(open, [{ name: 'staging' }]).kc);
      expect(
        await c.reviewAccess(target, ALICE, { verb: 'delete', group: 'apps', resource: 'deployments' }),
      ).toEqual({ allowed: true, reason: '' });
      expect((await c.getDeployment({ ...target, identity: ALICE }, 'api')).name).toBe('api');
    } finally {
      await open.close();
    }
  });
});
