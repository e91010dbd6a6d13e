/**
 * Authentication's second half: impersonation, authorization of each request, and
 * SubjectAccessReview, as the API server does them when RBAC is on
 * (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#user-impersonation,
 * https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access).
 */
import { badRequest, invalid, KubeStatusError, required } from './errors.js';
import { type Decision, forbiddenMessage, type ResourceAttributes, type UserInfo } from './rbac.js';
import { SUBJECT_ACCESS_REVIEWS } from './resource-types.js';
import { queryFlag, type Route } from './routing.js';
import { exactFieldValue } from './selectors.js';
import type { JsonObject } from './types.js';
import { isObject } from './values.js';

/** Every authenticated identity is in this group (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#users-in-kubernetes). */
export const AUTHENTICATED = 'system:authenticated';

/** The verb a request is authorized as (https://kubernetes.io/docs/reference/access-authn-authz/authorization/#determine-the-request-verb). */
export function requestVerb(method: string, named: boolean, query: Record<string, string>): string {
  if (method === 'GET' || method === 'HEAD') {
    // Only a collection GET becomes list or watch; a named GET stays a get, whatever its query.
    if (named) return 'get';
    return queryFlag(query, 'watch') ? 'watch' : 'list';
  }
  if (method === 'DELETE') return named ? 'delete' : 'deletecollection';
  return { POST: 'create', PUT: 'update', PATCH: 'patch' }[method] ?? method.toLowerCase();
}

export function attributesOf(
  route: Route,
  method: string,
  query: Record<string, string>,
): ResourceAttributes {
  const verb = requestVerb(method, route.name !== undefined, query);
  return {
    verb,
    group: route.type.group,
    resource: route.type.plural,
    subresource: route.subresource,
    name: route.name ?? (verb === 'list' || verb === 'watch' ? selectedName(query) : undefined),
    namespace: route.namespace,
  };
}

/** A list or watch of one name by fieldSelector is authorized for that name, so resourceNames rules apply (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources). */
function selectedName(query: Record<string, string>): string | undefined {
  const name = exactFieldValue(query.fieldSelector, 'metadata.name');
  // The name must be usable as a path segment, as RequestInfo requires.
  if (name === undefined || name === '' || name === '.' || name === '..' || /[/%]/.test(name))
    return undefined;
  return name;
}

/** The 403 Status of a request RBAC does not allow: `<resource>.<group> "<name>" is forbidden: User … cannot …`. */
export function forbidden(user: string, attrs: ResourceAttributes, reason: string): KubeStatusError {
  const qualified = attrs.group ? `${attrs.resource}.${attrs.group}` : attrs.resource;
  const subject = attrs.name ? `${qualified} ${JSON.stringify(attrs.name)}` : qualified;
  const why = forbiddenMessage(user, attrs) + (reason ? `: ${reason}` : '');
  return new KubeStatusError(403, 'Forbidden', `${subject} is forbidden: ${why}`, {
    ...(attrs.name ? { name: attrs.name } : {}),
    ...(attrs.group ? { group: attrs.group } : {}),
    kind: attrs.resource,
  });
}

/**
 * Who the request acts as. With Impersonate-User (and any Impersonate-Group), the caller must be
 * allowed `impersonate` on `users` and on `groups` (core API group) for each of those names, checked
 * user first; otherwise 403. Groups without a user are refused, as the real filter does.
 */
export function actingAs(
  caller: UserInfo,
  headers: { user: string | undefined; groups: string[] },
  allows: (user: UserInfo, attrs: ResourceAttributes) => Decision,
): UserInfo {
  if (headers.user === undefined) {
    if (headers.groups.length > 0)
      throw new KubeStatusError(
        500,
        'InternalError',
        // impersonation.go: buildImpersonationRequests' error, answered as an InternalError.
        `Internal error occurred: requested [${headers.groups.map((g) => `{Group  ${g}    }`).join(' ')}] without impersonating a user`,
      );
    return caller;
  }
  const requests: ResourceAttributes[] = [
    { verb: 'impersonate', group: '', resource: 'users', name: headers.user },
    ...headers.groups.map((name) => ({ verb: 'impersonate', group: '', resource: 'groups', name })),
  ];
  for (const attrs of requests) {
    const decision = allows(caller, attrs);
    if (!decision.allowed) throw forbidden(caller.name, attrs, decision.reason);
  }
  // The impersonated user is authenticated too, unless it is the anonymous user.
  const groups =
    headers.user === 'system:anonymous' || headers.groups.includes(AUTHENTICATED)
      ? headers.groups
      : [...headers.groups, AUTHENTICATED];
  return { name: headers.user, groups };
}

/**
 * POST /apis/authorization.k8s.io/v1/subjectaccessreviews: answers whether spec.user and
 * spec.groups may do spec.resourceAttributes; the review is returned with its status, never stored.
 */
export function reviewAccess(
  body: unknown,
  answer: (user: UserInfo, attrs: ResourceAttributes) => Decision,
): JsonObject {
  if (!isObject(body)) throw badRequest('the body of the request must be a JSON object');
  const spec = isObject(body.spec) ? body.spec : {};
  const user = typeof spec.user === 'string' ? spec.user : '';
  const groups = Array.isArray(spec.groups)
    ? spec.groups.filter((g): g is string => typeof g === 'string')
    : [];
  const resource = isObject(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
  const nonResource = isObject(spec.nonResourceAttributes) ? spec.nonResourceAttributes : undefined;
  // Validation as in pkg/apis/authorization/validation (ValidateSubjectAccessReviewSpec).
  const errors = [];
  if (!resource && !nonResource)
    errors.push(
      required(
        'spec.resourceAttributes',
        'exactly one of nonResourceAttributes or resourceAttributes must be specified',
      ),
    );
  if (user === '' && groups.length === 0)
    errors.push(required('spec.user', 'at least one of user or group must be specified'));
  if (errors.length > 0) throw invalid(SUBJECT_ACCESS_REVIEWS, '', errors);
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  let decision: Decision;
  if (resource) {
    decision = answer(
      { name: user, groups },
      {
        verb: str(resource.verb),
        group: str(resource.group),
        resource: str(resource.resource),
        subresource: str(resource.subresource) || undefined,
        name: str(resource.name) || undefined,
        namespace: str(resource.namespace) || undefined,
      },
    );
  } else {
    // The default system:discovery role lets everyone read the discovery paths; nothing else here serves one.
    decision = { allowed: false, reason: '' };
  }
  const metadata = isObject(body.metadata) ? body.metadata : {};
  return {
    kind: 'SubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { ...metadata, creationTimestamp: null },
    spec,
    status: { allowed: decision.allowed, ...(decision.reason ? { reason: decision.reason } : {}) },
  };
}
