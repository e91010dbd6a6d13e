import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  authorize,
  type Binding,
  type PolicyRule,
  type RbacState,
  type ResourceAttributes,
  ruleAllows,
} from '../../src/sandbox/rbac.js';

const rule = (r: Partial<PolicyRule>): PolicyRule => ({
  verbs: [],
  apiGroups: [],
  resources: [],
  resourceNames: [],
  ...r,
});
const patchApi: ResourceAttributes = {
  verb: 'patch',
  group: 'apps',
  resource: 'deployments',
  name: 'api',
  namespace: 'apps',
};
const empty: RbacState = { roles: [], clusterRoles: [], roleBindings: [], clusterRoleBindings: [] };
const bind = (
  name: string,
  role: Binding['roleRef'],
  subjects: Binding['subjects'],
  namespace?: string,
): Binding => ({
  name,
  subjects,
  roleRef: role,
  ...(namespace ? { namespace } : {}),
});
const alice = { name: 'alice@corp.example', groups: ['opsbot:oncall', 'system:authenticated'] };

describe('the RBAC rule matcher (the API server rules, kubernetes.io "Using RBAC Authorization")', () => {
  it('matches verbs, API groups and resources, with "*" for each', () => {
    expect(
      ruleAllows(rule({ verbs: ['patch'], apiGroups: ['apps'], resources: ['deployments'] }), patchApi),
    ).toBe(true);
    expect(ruleAllows(rule({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }), patchApi)).toBe(true);
    expect(
      ruleAllows(rule({ verbs: ['get'], apiGroups: ['apps'], resources: ['deployments'] }), patchApi),
    ).toBe(false);
    // deployments in the core group ("") is not apps/deployments.
    expect(
      ruleAllows(rule({ verbs: ['patch'], apiGroups: [''], resources: ['deployments'] }), patchApi),
    ).toBe(false);
  });

  it('needs "resource/subresource" (or "*/subresource", or "*") for a subresource', () => {
    const scale = { ...patchApi, verb: 'update', subresource: 'scale' };
    const base = { verbs: ['update'], apiGroups: ['apps'] };
    expect(ruleAllows(rule({ ...base, resources: ['deployments'] }), scale)).toBe(false);
    expect(ruleAllows(rule({ ...base, resources: ['deployments/scale'] }), scale)).toBe(true);
    expect(ruleAllows(rule({ ...base, resources: ['*/scale'] }), scale)).toBe(true);
    expect(ruleAllows(rule({ ...base, resources: ['*'] }), scale)).toBe(true);
    expect(ruleAllows(rule({ ...base, resources: ['deployments/status'] }), scale)).toBe(false);
    expect(
      ruleAllows(rule({ ...base, resources: ['deployments/scale'] }), { ...scale, subresource: undefined }),
    ).toBe(false);
  });

  it('limits a rule with resourceNames to those names, and never to an unnamed request', () => {
    const named = rule({
      verbs: ['patch', 'list'],
      apiGroups: ['apps'],
      resources: ['deployments'],
      resourceNames: ['web'],
    });
    expect(ruleAllows(named, patchApi)).toBe(false);
    expect(ruleAllows(named, { ...patchApi, name: 'web' })).toBe(true);
    expect(ruleAllows(named, { ...patchApi, verb: 'list', name: undefined })).toBe(false);
  });

  it('allows a request whose every attribute the rule lists, and no request with one attribute outside it', () => {
    const word = fc.stringMatching(/^[a-z]{1,8}$/);
    fc.assert(
      fc.property(
        fc.record({ verb: word, group: word, resource: word, name: word }),
        fc.constantFrom('verb', 'group', 'resource', 'name'),
        word,
        (req, changed, other) => {
          const exact = rule({
            verbs: [req.verb],
            apiGroups: [req.group],
            resources: [req.resource],
            resourceNames: [req.name],
          });
          const attrs: ResourceAttributes = { ...req, namespace: 'apps' };
          expect(ruleAllows(exact, attrs)).toBe(true);
          fc.pre(other !== req[changed]);
          expect(ruleAllows(exact, { ...attrs, [changed]: other })).toBe(false);
        },
      ),
    );
  });
});

describe('the RBAC authorizer: bindings, namespaces and subjects', () => {
  const deployer = {
    name: 'deployer',
    rules: [rule({ verbs: ['patch'], apiGroups: ['apps'], resources: ['deployments'] })],
  };

  it('denies with no reason when nothing binds the user, as the real authorizer does', () => {
    expect(authorize(empty, alice, patchApi)).toEqual({ allowed: false, reason: '' });
  });

  it('applies a RoleBinding only in its own namespace, to a ClusterRole or a Role of that namespace', () => {
    const state: RbacState = {
      ...empty,
      clusterRoles: [deployer],
      roleBindings: [
        bind(
          'b',
          { kind: 'ClusterRole', name: 'deployer' },
          [{ kind: 'Group', name: 'opsbot:oncall' }],
          'other',
        ),
      ],
    };
    expect(authorize(state, alice, patchApi).allowed).toBe(false);
    expect(authorize(state, alice, { ...patchApi, namespace: 'other' })).toEqual({
      allowed: true,
      reason: 'RBAC: allowed by RoleBinding "b/other" of ClusterRole "deployer" to Group "opsbot:oncall"',
    });
    // A Role is read from the binding's namespace only.
    const roleElsewhere: RbacState = {
      ...empty,
      roles: [{ ...deployer, namespace: 'other' }],
      roleBindings: [
        bind('b', { kind: 'Role', name: 'deployer' }, [{ kind: 'User', name: alice.name }], 'apps'),
      ],
    };
    expect(authorize(roleElsewhere, alice, patchApi)).toEqual({
      allowed: false,
      reason: 'RBAC: role.rbac.authorization.k8s.io "deployer" not found',
    });
  });

  it('applies a ClusterRoleBinding in every namespace and at the cluster scope', () => {
    const state: RbacState = {
      ...empty,
      clusterRoles: [deployer],
      clusterRoleBindings: [
        bind('c', { kind: 'ClusterRole', name: 'deployer' }, [{ kind: 'User', name: alice.name }]),
      ],
    };
    for (const namespace of ['apps', 'other', undefined]) {
      expect(authorize(state, alice, { ...patchApi, namespace })).toEqual({
        allowed: true,
        reason:
          'RBAC: allowed by ClusterRoleBinding "c" of ClusterRole "deployer" to User "alice@corp.example"',
      });
    }
  });

  it('matches User by name, Group by membership and ServiceAccount as system:serviceaccount:<ns>:<name>', () => {
    const withSubject = (subject: Binding['subjects'][number]): RbacState => ({
      ...empty,
      clusterRoles: [deployer],
      roleBindings: [bind('b', { kind: 'ClusterRole', name: 'deployer' }, [subject], 'apps')],
    });
    expect(authorize(withSubject({ kind: 'User', name: 'bob@corp.example' }), alice, patchApi).allowed).toBe(
      false,
    );
    expect(authorize(withSubject({ kind: 'Group', name: 'opsbot:developer' }), alice, patchApi).allowed).toBe(
      false,
    );
    expect(
      authorize(withSubject({ kind: 'Group', name: 'system:authenticated' }), alice, patchApi).allowed,
    ).toBe(true);
    const sa = { name: 'system:serviceaccount:opsbot:opsbot', groups: [] };
    expect(
      authorize(withSubject({ kind: 'ServiceAccount', name: 'opsbot', namespace: 'opsbot' }), sa, patchApi)
        .allowed,
    ).toBe(true);
    expect(
      authorize(withSubject({ kind: 'ServiceAccount', name: 'opsbot', namespace: 'apps' }), sa, patchApi)
        .allowed,
    ).toBe(false);
  });

  it('lets system:masters do anything', () => {
    expect(authorize(empty, { name: 'admin', groups: ['system:masters'] }, patchApi).allowed).toBe(true);
  });
});
