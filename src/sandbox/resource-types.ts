/** The resource types served and their discovery documents (https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api). */
import type { GroupResource } from './errors.js';
import type { JsonObject } from './types.js';

const SERVER_VERSION = { major: '1', minor: '31', gitVersion: 'v1.31.0' };

export interface ResourceType extends GroupResource {
  version: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  verbs: string[];
  /** Built-in types get canonical apiVersion/kind and support strategic merge patch. */
  builtin: boolean;
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function builtinType(
  group: string,
  plural: string,
  kind: string,
  namespaced: boolean,
  shortNames: string[] = [],
  verbs = ALL_VERBS,
): ResourceType {
  return {
    group,
    version: 'v1',
    plural,
    kind,
    singular: kind.toLowerCase(),
    namespaced,
    shortNames,
    verbs,
    builtin: true,
  };
}

export const NAMESPACES = builtinType('', 'namespaces', 'Namespace', false, ['ns']);
export const PODS = builtinType('', 'pods', 'Pod', true, ['po'], ['delete', 'get', 'list']);
export const DEPLOYMENTS = builtinType('apps', 'deployments', 'Deployment', true, ['deploy']);
export const REPLICASETS = builtinType(
  'apps',
  'replicasets',
  'ReplicaSet',
  true,
  ['rs'],
  ['get', 'list', 'watch'],
);
export const SCALE: GroupResource = { group: 'autoscaling', plural: 'scale', kind: 'Scale' };
// RBAC objects, read by the authorizer (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#api-overview).
export const ROLES = builtinType('rbac.authorization.k8s.io', 'roles', 'Role', true);
export const ROLE_BINDINGS = builtinType('rbac.authorization.k8s.io', 'rolebindings', 'RoleBinding', true);
export const CLUSTER_ROLES = builtinType('rbac.authorization.k8s.io', 'clusterroles', 'ClusterRole', false);
export const CLUSTER_ROLE_BINDINGS = builtinType(
  'rbac.authorization.k8s.io',
  'clusterrolebindings',
  'ClusterRoleBinding',
  false,
);
/** Create-only and never stored (https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access). */
export const SUBJECT_ACCESS_REVIEWS = builtinType(
  'authorization.k8s.io',
  'subjectaccessreviews',
  'SubjectAccessReview',
  false,
  [],
  ['create'],
);

const RESOURCE_TYPES: ResourceType[] = [
  NAMESPACES,
  PODS,
  builtinType('', 'services', 'Service', true, ['svc']),
  builtinType('', 'configmaps', 'ConfigMap', true, ['cm']),
  builtinType('', 'secrets', 'Secret', true),
  builtinType('', 'serviceaccounts', 'ServiceAccount', true, ['sa']),
  DEPLOYMENTS,
  REPLICASETS,
  ROLES,
  ROLE_BINDINGS,
  CLUSTER_ROLES,
  CLUSTER_ROLE_BINDINGS,
  SUBJECT_ACCESS_REVIEWS,
  builtinType('networking.k8s.io', 'ingresses', 'Ingress', true, ['ing']),
];

export const groupVersion = (t: { group: string; version: string }) =>
  t.group ? `${t.group}/${t.version}` : t.version;
export const sameType = (a: GroupResource, b: GroupResource) => a.group === b.group && a.plural === b.plural;

/** Any other plural is accepted as a namespaced object store, like a CRD would be. */
function genericType(group: string, version: string, plural: string): ResourceType {
  return {
    group,
    version,
    plural,
    kind: plural,
    singular: plural,
    namespaced: true,
    shortNames: [],
    verbs: ALL_VERBS,
    builtin: false,
  };
}

export function findType(
  group: string,
  version: string,
  plural: string,
  namespacedPath: boolean,
): ResourceType | undefined {
  const known = RESOURCE_TYPES.find((t) => t.group === group && t.plural === plural);
  if (known) return known.version === version && (!namespacedPath || known.namespaced) ? known : undefined;
  if (group === '' && version !== 'v1') return undefined;
  return genericType(group, version, plural);
}

function apiResource(t: ResourceType): JsonObject {
  return {
    name: t.plural,
    singularName: t.singular,
    namespaced: t.namespaced,
    kind: t.kind,
    verbs: t.verbs,
    ...(t.shortNames.length > 0 ? { shortNames: t.shortNames } : {}),
  };
}

const SUBRESOURCES: Record<string, JsonObject[]> = {
  apps: [
    {
      name: 'deployments/scale',
      singularName: '',
      namespaced: true,
      group: 'autoscaling',
      version: 'v1',
      kind: 'Scale',
      verbs: ['get', 'patch', 'update'],
    },
  ],
};

export function resourceList(group: string, version: string): JsonObject | undefined {
  const types = RESOURCE_TYPES.filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion({ group, version }),
    resources: [...types.map(apiResource), ...(SUBRESOURCES[group] ?? [])],
  };
}

export function apiGroup(group: string): JsonObject | undefined {
  const type = RESOURCE_TYPES.find((t) => t.group === group);
  if (!type || group === '') return undefined;
  const version = { groupVersion: groupVersion(type), version: type.version };
  return { name: group, versions: [version], preferredVersion: version };
}

export function apiGroupList(): JsonObject {
  const groups = [...new Set(RESOURCE_TYPES.map((t) => t.group).filter((g) => g !== ''))];
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(apiGroup) };
}

export function versionInfo(): JsonObject {
  return {
    ...SERVER_VERSION,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2024-08-13T07:28:49Z',
    goVersion: 'go1.22.5',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}
