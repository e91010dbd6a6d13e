/**
 * The RBAC authorizer of the API server, over the Role, RoleBinding, ClusterRole and
 * ClusterRoleBinding objects in the store. Matching rules and reason texts follow
 * https://kubernetes.io/docs/reference/access-authn-authz/rbac/ ("Using RBAC Authorization") and the
 * authorizer in kubernetes/plugin/pkg/auth/authorizer/rbac (rbac.go, evaluation_helpers.go).
 */
import type { JsonObject } from './types.js';

/** Who is asking: the authenticated (or impersonated) user and its groups. */
export interface UserInfo {
  name: string;
  groups: readonly string[];
}

/** The attributes of a resource request, as a SubjectAccessReview's spec.resourceAttributes carries them. */
export interface ResourceAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string | undefined;
  name?: string | undefined;
  /** Empty for cluster-scoped resources (and for "in every namespace"). */
  namespace?: string | undefined;
}

export interface PolicyRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
}

export interface Subject {
  kind: string;
  name: string;
  namespace?: string | undefined;
}

export interface Binding {
  name: string;
  /** Absent for a ClusterRoleBinding. */
  namespace?: string | undefined;
  subjects: Subject[];
  roleRef: { kind: string; name: string };
}

export interface RoleObject {
  name: string;
  namespace?: string | undefined;
  rules: PolicyRule[];
}

/** The RBAC objects the authorizer reads. */
export interface RbacState {
  roles: RoleObject[];
  clusterRoles: RoleObject[];
  roleBindings: Binding[];
  clusterRoleBindings: Binding[];
}

export interface Decision {
  allowed: boolean;
  /** "RBAC: allowed by …" when allowed; on a denial, only the errors met while resolving roles, as the real authorizer says. */
  reason: string;
}

/** Members of this group pass every authorization check (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles). */
export const SYSTEM_MASTERS = 'system:masters';
export const RBAC_GROUP = 'rbac.authorization.k8s.io';

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

// evaluation_helpers.go: VerbMatches, APIGroupMatches, ResourceMatches, ResourceNameMatches.
export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === '*' || v === verb);
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return rule.apiGroups.some((g) => g === '*' || g === group);
}

/** "*" matches every resource and subresource; "deployments/scale" or "*\/scale" a subresource. */
export function resourceMatches(
  rule: PolicyRule,
  resource: string,
  subresource: string | undefined,
): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  return rule.resources.some(
    (r) =>
      r === '*' ||
      r === combined ||
      (subresource !== undefined && subresource !== '' && r === `*/${subresource}`),
  );
}

/** An empty resourceNames list matches every name; a named rule never matches a request without a name (list, create). */
export function resourceNameMatches(rule: PolicyRule, name: string | undefined): boolean {
  return rule.resourceNames.length === 0 || rule.resourceNames.some((n) => n === name);
}

export function ruleAllows(rule: PolicyRule, attrs: ResourceAttributes): boolean {
  return (
    verbMatches(rule, attrs.verb) &&
    apiGroupMatches(rule, attrs.group) &&
    resourceMatches(rule, attrs.resource, attrs.subresource) &&
    resourceNameMatches(rule, attrs.name)
  );
}

/** rbac.go appliesToUser: User and Group by name; a ServiceAccount as system:serviceaccount:<ns>:<name>. */
function subjectMatches(subject: Subject, user: UserInfo, bindingNamespace: string | undefined): boolean {
  switch (subject.kind) {
    case 'User':
      return subject.name === user.name;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      const namespace = subject.namespace || bindingNamespace || '';
      return namespace !== '' && user.name === `system:serviceaccount:${namespace}:${subject.name}`;
    }
    default:
      return false;
  }
}

function describeSubject(subject: Subject, bindingNamespace: string | undefined): string {
  if (subject.kind === 'ServiceAccount')
    return `ServiceAccount ${JSON.stringify(`${subject.name}/${subject.namespace || bindingNamespace || ''}`)}`;
  return `${subject.kind} ${JSON.stringify(subject.name)}`;
}

function describeBinding(binding: Binding, subject: Subject): string {
  const role = `${binding.roleRef.kind} ${JSON.stringify(binding.roleRef.name)}`;
  return binding.namespace === undefined
    ? `ClusterRoleBinding ${JSON.stringify(binding.name)} of ${role} to ${describeSubject(subject, undefined)}`
    : `RoleBinding ${JSON.stringify(`${binding.name}/${binding.namespace}`)} of ${role} to ${describeSubject(subject, binding.namespace)}`;
}

/**
 * Authorizes one resource request. ClusterRoleBindings apply everywhere; a RoleBinding only to
 * requests in its own namespace, with the rules of a Role there or of a ClusterRole. Denials carry
 * no reason except the errors met (a binding to a role that does not exist), as in rbac.go.
 */
export function authorize(state: RbacState, user: UserInfo, attrs: ResourceAttributes): Decision {
  if (user.groups.includes(SYSTEM_MASTERS)) return { allowed: true, reason: '' };
  const errors: string[] = [];
  const rulesOf = (binding: Binding): PolicyRule[] | undefined => {
    const { kind, name } = binding.roleRef;
    const role =
      kind === 'ClusterRole'
        ? state.clusterRoles.find((r) => r.name === name)
        : kind === 'Role' && binding.namespace !== undefined
          ? state.roles.find((r) => r.name === name && r.namespace === binding.namespace)
          : undefined;
    if (!role) {
      errors.push(`${kind.toLowerCase()}.${RBAC_GROUP} ${JSON.stringify(name)} not found`);
      return undefined;
    }
    return role.rules;
  };
  const visit = (binding: Binding): Decision | undefined => {
    const subject = binding.subjects.find((s) => subjectMatches(s, user, binding.namespace));
    if (!subject) return undefined;
    const rules = rulesOf(binding);
    if (rules?.some((rule) => ruleAllows(rule, attrs)))
      return { allowed: true, reason: `RBAC: allowed by ${describeBinding(binding, subject)}` };
    return undefined;
  };
  for (const binding of state.clusterRoleBindings) {
    const decision = visit(binding);
    if (decision) return decision;
  }
  if (attrs.namespace) {
    for (const binding of state.roleBindings.filter((b) => b.namespace === attrs.namespace)) {
      const decision = visit(binding);
      if (decision) return decision;
    }
  }
  const reason =
    errors.length === 0 ? '' : `RBAC: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}`;
  return { allowed: false, reason };
}

/**
 * The text of the 403 the API server answers for a request it does not authorize
 * (apiserver/pkg/endpoints/handlers/responsewriters/errors.go, forbiddenMessage).
 */
export function forbiddenMessage(user: string, attrs: ResourceAttributes): string {
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const where = attrs.namespace
    ? `in the namespace ${JSON.stringify(attrs.namespace)}`
    : 'at the cluster scope';
  return `User ${JSON.stringify(user)} cannot ${attrs.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(attrs.group)} ${where}`;
}

// -- reading the stored objects ------------------------------------------------------------------------------

const asObject = (value: unknown): JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : {};

export function toRule(value: unknown): PolicyRule {
  const rule = asObject(value);
  return {
    verbs: strings(rule.verbs),
    apiGroups: strings(rule.apiGroups),
    resources: strings(rule.resources),
    resourceNames: strings(rule.resourceNames),
  };
}

export function toRole(obj: JsonObject): RoleObject {
  const meta = asObject(obj.metadata);
  return {
    name: String(meta.name ?? ''),
    ...(typeof meta.namespace === 'string' ? { namespace: meta.namespace } : {}),
    // Rules with nonResourceURLs have no resources, so they never match a resource request.
    rules: (Array.isArray(obj.rules) ? obj.rules : []).map(toRule),
  };
}

export function toBinding(obj: JsonObject, namespaced: boolean): Binding {
  const meta = asObject(obj.metadata);
  const roleRef = asObject(obj.roleRef);
  return {
    name: String(meta.name ?? ''),
    ...(namespaced && typeof meta.namespace === 'string' ? { namespace: meta.namespace } : {}),
    subjects: (Array.isArray(obj.subjects) ? obj.subjects : []).map((s) => {
      const subject = asObject(s);
      return {
        kind: String(subject.kind ?? ''),
        name: String(subject.name ?? ''),
        ...(typeof subject.namespace === 'string' ? { namespace: subject.namespace } : {}),
      };
    }),
    roleRef: { kind: String(roleRef.kind ?? ''), name: String(roleRef.name ?? '') },
  };
}
