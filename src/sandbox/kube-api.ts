/**
 * A local HTTP server that speaks enough of the Kubernetes API, with a deployment controller, to stand in
 * for a cluster: the built-in "sandbox cluster" for users without one, and the fake behind integration tests.
 * Only node built-ins and `yaml`; all state lives in memory.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

// ---------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------

export interface KubeApiOptions {
  /** Interface to listen on; default '127.0.0.1'. */
  host?: string;
  /** Port to listen on; default 0 (random). */
  port?: number;
  /** Bearer token required on every request; default 'sandbox-token'. */
  token?: string;
  /** Interval at which rollouts advance one pod; 0 = rollouts complete synchronously on write. Default 200. */
  rolloutStepMs?: number;
  /** Multiplies spec.progressDeadlineSeconds*1000 to get real milliseconds; default 1 (tests can use 0.01). */
  progressDeadlineScale?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  body: unknown;
  at: number;
}

export interface FaultRule {
  method?: string;
  path?: RegExp;
  status: number;
  /** How many matching requests fail; default 1. */
  times?: number;
  retryAfterSeconds?: number;
  reason?: string;
  message?: string;
}

export interface KubeconfigContext {
  name: string;
  namespace?: string;
}

export interface PodTrouble {
  /** How many pods of the deployment's current ReplicaSet fail readiness (CrashLoopBackOff). */
  notReady?: number;
  /** restartCount reported by every pod of the deployment's current ReplicaSet. */
  restarts?: number;
}

export type JsonObject = Record<string, unknown>;

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  /** Absent only on the answer to a dry-run create. */
  resourceVersion?: string;
  generation?: number;
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface Container {
  name: string;
  image: string;
  [key: string]: unknown;
}

export interface PodTemplate {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string>; [key: string]: unknown };
  spec: { containers: Container[]; [key: string]: unknown };
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastUpdateTime?: string;
  lastTransitionTime: string;
}

export interface DeploymentSpec {
  replicas: number;
  selector: LabelSelector;
  template: PodTemplate;
  paused?: boolean;
  revisionHistoryLimit: number;
  progressDeadlineSeconds: number;
  strategy: {
    type: string;
    rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string };
  };
  [key: string]: unknown;
}

export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  conditions?: Condition[];
  [key: string]: unknown;
}

export interface DeploymentObject extends KubeObject {
  spec: DeploymentSpec;
  status: DeploymentStatus;
}

export interface ReplicaSetStatus {
  replicas: number;
  fullyLabeledReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  observedGeneration?: number;
}

export interface ReplicaSetObject extends KubeObject {
  spec: { replicas: number; selector: LabelSelector; template: PodTemplate };
  status: ReplicaSetStatus;
}

export interface KubeApi {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  token: string;
  /** Every request, in order. */
  requests: RecordedRequest[];
  /** Writes a kubeconfig whose contexts all point at this server. */
  writeKubeconfig(file: string, contexts: KubeconfigContext[], current?: string): void;
  kubeconfigYaml(contexts: KubeconfigContext[], current?: string): string;
  /** Creates the namespace if it is missing (state helper, no request recorded). */
  ensureNamespace(name: string, labels?: Record<string, string>): KubeObject;
  /**
   * Creates the deployment (and its namespace), or replaces it as a PUT would; the controller runs as for
   * any write. With `settle`, its rollout is also driven as far as it can go before this returns.
   */
  applyDeployment(namespace: string, manifest: object, options?: { settle?: boolean }): DeploymentObject;
  getDeployment(namespace: string, name: string): DeploymentObject | undefined;
  /** ReplicaSets of the namespace (or owned by one deployment), oldest revision first. */
  listReplicaSets(namespace: string, deploymentName?: string): ReplicaSetObject[];
  /** What a GET of this API path would return, e.g. '/api/v1/namespaces/preview-x/services/web'. */
  getObject(apiPath: string): KubeObject | undefined;
  namespaces(): KubeObject[];
  /** Makes pods of the deployment's current ReplicaSet unhealthy (or healthy again with {}). */
  setPodTrouble(namespace: string, deployment: string, trouble: PodTrouble): void;
  /** Advances every rollout as far as it can go, immediately. */
  settle(): Promise<void>;
  failNext(rule: FaultRule): void;
  clearFaults(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------------------

const DEFAULT_TOKEN = 'sandbox-token';
const DEFAULT_STEP_MS = 200;
const BODY_LIMIT_BYTES = 5 * 1024 * 1024;
const SERVER_VERSION = { major: '1', minor: '31', gitVersion: 'v1.31.0' };

const REVISION = 'deployment.kubernetes.io/revision';
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
const POD_TEMPLATE_HASH = 'pod-template-hash';
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
/** Deployment annotations the controller does not copy onto ReplicaSets (it owns them, or they are huge). */
const ANNOTATIONS_NOT_COPIED = new Set([
  REVISION,
  REVISION_HISTORY,
  DESIRED_REPLICAS,
  MAX_REPLICAS,
  'kubectl.kubernetes.io/last-applied-configuration',
  'deprecated.deployment.rollback.to',
]);
/** The alphabet Kubernetes uses for generated name suffixes (no vowels, no confusable characters). */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);

const JSON_PATCH = 'application/json-patch+json';
const MERGE_PATCH = 'application/merge-patch+json';
const STRATEGIC_PATCH = 'application/strategic-merge-patch+json';
const APPLY_PATCH = 'application/apply-patch+yaml';
const PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH, STRATEGIC_PATCH];
const BODY_TYPES = ['application/json', 'application/yaml'];

// ---------------------------------------------------------------------------------------------------------
// Status errors
// ---------------------------------------------------------------------------------------------------------

interface GroupResource {
  group: string;
  plural: string;
  kind: string;
}

interface FieldError {
  reason: 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueForbidden';
  field: string;
  message: string;
}

/** A failure the API answers with a v1 Status object; also thrown by the state helpers. */
export class KubeStatusError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: JsonObject | undefined;
  readonly headers: Record<string, string>;

  constructor(
    code: number,
    reason: string,
    message: string,
    details?: JsonObject,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'KubeStatusError';
    this.code = code;
    this.reason = reason;
    this.details = details;
    this.headers = headers;
  }

  toStatus(): JsonObject {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

const qualified = (t: GroupResource) => (t.group ? `${t.plural}.${t.group}` : t.plural);
const qualifiedKind = (t: GroupResource) => (t.group ? `${t.kind}.${t.group}` : t.kind);
const statusDetails = (t: GroupResource, name: string): JsonObject => ({
  name,
  ...(t.group ? { group: t.group } : {}),
  kind: t.plural,
});

const notFound = (t: GroupResource, name: string) =>
  new KubeStatusError(404, 'NotFound', `${qualified(t)} "${name}" not found`, statusDetails(t, name));
const alreadyExists = (t: GroupResource, name: string) =>
  new KubeStatusError(
    409,
    'AlreadyExists',
    `${qualified(t)} "${name}" already exists`,
    statusDetails(t, name),
  );
const conflict = (
  t: GroupResource,
  name: string,
  why = 'the object has been modified; please apply your changes to the latest version and try again',
) =>
  new KubeStatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(t)} "${name}": ${why}`,
    statusDetails(t, name),
  );
const badRequest = (message: string) => new KubeStatusError(400, 'BadRequest', message);
const methodNotAllowed = (message = 'the server does not allow this method on the requested resource') =>
  new KubeStatusError(405, 'MethodNotAllowed', message, {});
const routeNotFound = () =>
  new KubeStatusError(404, 'NotFound', 'the server could not find the requested resource', {});
const unsupportedMediaType = (accepted: string[]) =>
  new KubeStatusError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );
const namespaceNotFound = (name: string) =>
  notFound({ group: '', plural: 'namespaces', kind: 'Namespace' }, name);

function invalid(t: GroupResource, name: string, errors: FieldError[]): KubeStatusError {
  const lines = errors.map((e) => `${e.field}: ${e.message}`);
  const summary = lines.length === 1 ? lines[0] : `[${lines.join(', ')}]`;
  return new KubeStatusError(422, 'Invalid', `${qualifiedKind(t)} "${name}" is invalid: ${summary}`, {
    name,
    ...(t.group ? { group: t.group } : {}),
    kind: t.kind,
    causes: errors.map((e) => ({ reason: e.reason, message: e.message, field: e.field })),
  });
}

/** The 422 the real server gives when a JSON patch cannot be applied (failed `test`, missing path). */
const patchNotApplicable = (detail: string) =>
  new KubeStatusError(422, 'Invalid', 'the server rejected our request due to an error in our request', {
    causes: [{ message: detail }],
  });

const required = (field: string, detail?: string): FieldError => ({
  reason: 'FieldValueRequired',
  field,
  message: detail ? `Required value: ${detail}` : 'Required value',
});
const invalidValue = (field: string, value: unknown, detail: string): FieldError => ({
  reason: 'FieldValueInvalid',
  field,
  message: `Invalid value: ${typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? 'null')}: ${detail}`,
});

const FAULT_DEFAULTS: Record<number, [string, string]> = {
  400: ['BadRequest', 'the server rejected our request for an unknown reason'],
  401: ['Unauthorized', 'Unauthorized'],
  403: ['Forbidden', 'forbidden'],
  404: ['NotFound', 'the server could not find the requested resource'],
  409: [
    'Conflict',
    'the object has been modified; please apply your changes to the latest version and try again',
  ],
  429: ['TooManyRequests', 'the server has received too many requests and has asked us to try again later'],
  500: [
    'InternalError',
    'an error on the server ("injected fault") has prevented the request from succeeding',
  ],
  502: ['InternalError', 'an error on the server ("Bad Gateway") has prevented the request from succeeding'],
  503: ['ServiceUnavailable', 'the server is currently unable to handle the request'],
  504: [
    'Timeout',
    'the server was unable to return a response in the time allotted, but may still be processing the request',
  ],
};

function faultError(rule: FaultRule): KubeStatusError {
  const [reason, message] = FAULT_DEFAULTS[rule.status] ?? [
    'InternalError',
    `injected fault (${rule.status})`,
  ];
  const retryAfter = rule.retryAfterSeconds ?? (rule.status === 429 ? 1 : undefined);
  return new KubeStatusError(
    rule.status,
    rule.reason ?? reason,
    rule.message ?? message,
    retryAfter === undefined ? undefined : { retryAfterSeconds: retryAfter },
    retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) },
  );
}

// ---------------------------------------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------------------------------------

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const clone = <T>(value: T): T => structuredClone(value);

/** JSON with sorted keys, so equal objects give equal strings (hashes, equality, change detection). */
function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (isObject(value)) {
    const entries = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${stableStringify(value[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const deepEqual = (a: unknown, b: unknown) => stableStringify(a) === stableStringify(b);

function fnv32a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

/** rand.SafeEncodeString: how Kubernetes turns a hash into a name-safe pod-template-hash. */
const safeEncode = (text: string) =>
  [...text].map((ch) => SAFE_ALPHABET.charAt(ch.charCodeAt(0) % SAFE_ALPHABET.length)).join('');

function randomSuffix(length = 5): string {
  let suffix = '';
  for (let i = 0; i < length; i++) suffix += SAFE_ALPHABET.charAt(randomInt(SAFE_ALPHABET.length));
  return suffix;
}

/** RFC 3339 with second precision, as Kubernetes writes timestamps. */
const timestamp = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function stringRecord(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

// ---------------------------------------------------------------------------------------------------------
// Patches: RFC 6902 JSON patch, RFC 7386 merge patch, strategic merge patch
// ---------------------------------------------------------------------------------------------------------

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw patchNotApplicable(`JSON pointer must start with "/": ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function childOf(container: unknown, token: string): unknown {
  if (Array.isArray(container)) return /^\d+$/.test(token) ? container[Number(token)] : undefined;
  return isObject(container) ? container[token] : undefined;
}

function valueAt(doc: unknown, pointer: string): unknown {
  let current = doc;
  for (const token of parsePointer(pointer)) {
    current = childOf(current, token);
    if (current === undefined) throw patchNotApplicable(`doc is missing path: "${pointer}"`);
  }
  return current;
}

/** The container holding the last token of the pointer, which must exist. */
function parentOf(doc: unknown, pointer: string): { parent: JsonObject | unknown[]; key: string } {
  const tokens = parsePointer(pointer);
  const key = tokens.pop();
  const parent = tokens.length === 0 ? doc : valueAt(doc, `/${tokens.map(escapeToken).join('/')}`);
  if (key === undefined || !(isObject(parent) || Array.isArray(parent))) {
    throw patchNotApplicable(`doc is missing path: "${pointer}"`);
  }
  return { parent, key };
}

const escapeToken = (token: string) => token.replaceAll('~', '~0').replaceAll('/', '~1');

function arrayIndex(list: unknown[], key: string, forInsert: boolean, pointer: string): number {
  const limit = forInsert ? list.length : list.length - 1;
  const index = key === '-' && forInsert ? list.length : /^\d+$/.test(key) ? Number(key) : -1;
  if (index < 0 || index > limit) throw patchNotApplicable(`index out of range in path: "${pointer}"`);
  return index;
}

function addValue(doc: unknown, pointer: string, value: unknown): unknown {
  if (pointer === '') return value;
  const { parent, key } = parentOf(doc, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true, pointer), 0, value);
  else parent[key] = value;
  return doc;
}

function removeValue(doc: unknown, pointer: string): unknown {
  const { parent, key } = parentOf(doc, pointer);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, false, pointer), 1)[0];
  if (!(key in parent)) throw patchNotApplicable(`doc is missing path: "${pointer}"`);
  const removed = parent[key];
  delete parent[key];
  return removed;
}

function applyJsonPatchOp(doc: unknown, op: JsonObject): unknown {
  const path = op.path;
  if (typeof path !== 'string') throw badRequest('invalid JSON patch: every operation needs a string "path"');
  const from = typeof op.from === 'string' ? op.from : '';
  switch (op.op) {
    case 'add':
      return addValue(doc, path, clone(op.value));
    case 'remove':
      removeValue(doc, path);
      return doc;
    case 'replace':
      valueAt(doc, path);
      if (path === '') return clone(op.value);
      removeValue(doc, path);
      return addValue(doc, path, clone(op.value));
    case 'move':
      return addValue(doc, path, removeValue(doc, from));
    case 'copy':
      return addValue(doc, path, clone(valueAt(doc, from)));
    case 'test':
      if (!deepEqual(valueAt(doc, path), op.value)) throw patchNotApplicable(`testing value ${path} failed`);
      return doc;
    default:
      throw badRequest(`invalid JSON patch: unexpected operation ${JSON.stringify(op.op)}`);
  }
}

function applyJsonPatch(doc: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) {
    throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  }
  let result = clone(doc);
  for (const op of patch) {
    if (!isObject(op)) throw badRequest('invalid JSON patch: every operation must be an object');
    result = applyJsonPatchOp(result, op);
  }
  return result;
}

function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

/** patchMergeKey of the built-in list fields (the `x-kubernetes-patch-merge-key` of the OpenAPI schema). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  conditions: 'type',
  ownerReferences: 'uid',
};

function mergeKeyFor(field: string, items: unknown[]): string | undefined {
  if (field === 'ports')
    return items.some((i) => isObject(i) && 'containerPort' in i) ? 'containerPort' : 'port';
  return MERGE_KEYS[field];
}

const isDirectiveKey = (key: string) =>
  key === '$patch' ||
  key === '$retainKeys' ||
  key.startsWith('$setElementOrder/') ||
  key.startsWith('$deleteFromPrimitiveList/');

function withoutDirectives(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutDirectives);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !isDirectiveKey(key))
      .map(([key, v]) => [key, withoutDirectives(v)]),
  );
}

function strategicMergeList(current: unknown, patch: unknown[], key: string): unknown[] {
  if (patch.some((item) => isObject(item) && item.$patch === 'replace')) {
    return patch.filter((item) => !(isObject(item) && item.$patch === 'replace')).map(withoutDirectives);
  }
  const result = Array.isArray(current) ? clone(current) : [];
  for (const item of patch) {
    const index = isObject(item) ? result.findIndex((e) => isObject(e) && e[key] === item[key]) : -1;
    if (isObject(item) && item.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
    } else if (index >= 0) {
      result[index] = strategicMerge(result[index], item);
    } else {
      result.push(withoutDirectives(item));
    }
  }
  return result;
}

/** Like a merge patch, but lists with a merge key (containers, env, ports...) merge element-wise. */
function strategicMerge(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return withoutDirectives(patch);
  if (patch.$patch === 'replace') return withoutDirectives(patch);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (isDirectiveKey(key)) continue;
    const mergeKey = Array.isArray(value) ? mergeKeyFor(key, value) : undefined;
    if (value === null || (isObject(value) && value.$patch === 'delete')) delete result[key];
    else if (Array.isArray(value) && mergeKey) result[key] = strategicMergeList(result[key], value, mergeKey);
    else result[key] = strategicMerge(result[key], value);
  }
  return result;
}

function applyPatchDocument(patchType: string, current: unknown, patch: unknown): unknown {
  if (patchType === JSON_PATCH) return applyJsonPatch(current, patch);
  if (!isObject(patch)) throw badRequest('the patch must be a JSON object');
  return patchType === MERGE_PATCH ? applyMergePatch(current, patch) : strategicMerge(current, patch);
}

// ---------------------------------------------------------------------------------------------------------
// Label and field selectors
// ---------------------------------------------------------------------------------------------------------

interface Requirement {
  key: string;
  operator: 'in' | 'notin' | 'exists' | 'absent';
  values: string[];
}

const KEY = '[A-Za-z0-9][-A-Za-z0-9_./]*';
const VALUE = '[-A-Za-z0-9_.]*';
const ABSENT_RE = new RegExp(String.raw`^!\s*(${KEY})$`);
const SET_RE = new RegExp(String.raw`^(${KEY})\s+(in|notin)\s*\(([^)]*)\)$`);
const EQUALITY_RE = new RegExp(String.raw`^(${KEY})\s*(==|=|!=)\s*(${VALUE})$`);
const EXISTS_RE = new RegExp(`^(${KEY})$`);

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function parseRequirement(text: string): Requirement {
  let m = ABSENT_RE.exec(text);
  if (m) return { key: m[1] ?? '', operator: 'absent', values: [] };
  m = SET_RE.exec(text);
  if (m) {
    const values = (m[3] ?? '').split(',').map((v) => v.trim());
    return { key: m[1] ?? '', operator: m[2] === 'in' ? 'in' : 'notin', values };
  }
  m = EQUALITY_RE.exec(text);
  if (m) return { key: m[1] ?? '', operator: m[2] === '!=' ? 'notin' : 'in', values: [m[3] ?? ''] };
  m = EXISTS_RE.exec(text);
  if (m) return { key: m[1] ?? '', operator: 'exists', values: [] };
  throw badRequest(`unable to parse requirement: ${JSON.stringify(text)}`);
}

const parseSelector = (text: string | undefined) => splitTopLevel(text ?? '').map(parseRequirement);

function matchesRequirements(
  labels: Record<string, string> | undefined,
  requirements: Requirement[],
): boolean {
  return requirements.every(({ key, operator, values }) => {
    const value = labels?.[key];
    if (operator === 'in') return value !== undefined && values.includes(value);
    if (operator === 'notin') return value === undefined || !values.includes(value);
    if (operator === 'exists') return value !== undefined;
    return value === undefined;
  });
}

/** The string form of a LabelSelector, as Scale.status.selector and kubectl print it. */
function selectorString(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    if (operator === 'In') parts.push(`${key} in (${values.join(',')})`);
    if (operator === 'NotIn') parts.push(`${key} notin (${values.join(',')})`);
    if (operator === 'Exists') parts.push(key);
    if (operator === 'DoesNotExist') parts.push(`!${key}`);
  }
  return parts.join(',');
}

const FIELD_SELECTORS: Record<string, (o: KubeObject) => unknown> = {
  'metadata.name': (o) => o.metadata.name,
  'metadata.namespace': (o) => o.metadata.namespace ?? '',
  'status.phase': (o) => (isObject(o.status) ? o.status.phase : undefined),
};

function fieldMatcher(text: string | undefined): (o: KubeObject) => boolean {
  const tests = splitTopLevel(text ?? '').map((term) => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    const getter = m ? FIELD_SELECTORS[m[1] ?? ''] : undefined;
    if (!m || !getter)
      throw badRequest(`"${term}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
    const [, , op, expected] = m;
    return (o: KubeObject) => (getter(o) === expected) === (op !== '!=');
  });
  return (o) => tests.every((test) => test(o));
}

// ---------------------------------------------------------------------------------------------------------
// Resource types and discovery
// ---------------------------------------------------------------------------------------------------------

interface ResourceType extends GroupResource {
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

const NAMESPACES = builtinType('', 'namespaces', 'Namespace', false, ['ns']);
const PODS = builtinType('', 'pods', 'Pod', true, ['po'], ['delete', 'get', 'list']);
const DEPLOYMENTS = builtinType('apps', 'deployments', 'Deployment', true, ['deploy']);
const REPLICASETS = builtinType('apps', 'replicasets', 'ReplicaSet', true, ['rs'], ['get', 'list']);
const SCALE: GroupResource = { group: 'autoscaling', plural: 'scale', kind: 'Scale' };

const RESOURCE_TYPES: ResourceType[] = [
  NAMESPACES,
  PODS,
  builtinType('', 'services', 'Service', true, ['svc']),
  builtinType('', 'configmaps', 'ConfigMap', true, ['cm']),
  builtinType('', 'secrets', 'Secret', true),
  builtinType('', 'serviceaccounts', 'ServiceAccount', true, ['sa']),
  DEPLOYMENTS,
  REPLICASETS,
  builtinType('networking.k8s.io', 'ingresses', 'Ingress', true, ['ing']),
];

const groupVersion = (t: { group: string; version: string }) =>
  t.group ? `${t.group}/${t.version}` : t.version;
const sameType = (a: GroupResource, b: GroupResource) => a.group === b.group && a.plural === b.plural;

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

function findType(
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

function resourceList(group: string, version: string): JsonObject | undefined {
  const types = RESOURCE_TYPES.filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion({ group, version }),
    resources: [...types.map(apiResource), ...(SUBRESOURCES[group] ?? [])],
  };
}

function apiGroup(group: string): JsonObject | undefined {
  const type = RESOURCE_TYPES.find((t) => t.group === group);
  if (!type || group === '') return undefined;
  const version = { groupVersion: groupVersion(type), version: type.version };
  return { name: group, versions: [version], preferredVersion: version };
}

function apiGroupList(): JsonObject {
  const groups = [...new Set(RESOURCE_TYPES.map((t) => t.group).filter((g) => g !== ''))];
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(apiGroup) };
}

// ---------------------------------------------------------------------------------------------------------
// Per-kind defaulting and validation
// ---------------------------------------------------------------------------------------------------------

interface StrategyContext {
  allocateClusterIP(): string;
}

interface Strategy {
  /** Defaulting and normalisation, run on every write before validation. */
  prepare(obj: KubeObject, old: KubeObject | undefined, ctx: StrategyContext): void;
  validate(obj: KubeObject, old: KubeObject | undefined): FieldError[];
  initialStatus(obj: KubeObject): JsonObject | undefined;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function validateName(meta: ObjectMeta, label: boolean): FieldError[] {
  const name: unknown = meta.name;
  if (typeof name !== 'string' || name === '')
    return [required('metadata.name', 'name or generateName is required')];
  if (label && (!DNS_LABEL.test(name) || name.length > 63)) {
    return [
      invalidValue(
        'metadata.name',
        name,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      ),
    ];
  }
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253) {
    return [
      invalidValue(
        'metadata.name',
        name,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ),
    ];
  }
  return [];
}

const genericStrategy: Strategy = {
  prepare: () => {},
  validate: (obj) => validateName(obj.metadata, false),
  initialStatus: () => undefined,
};

const namespaceStrategy: Strategy = {
  prepare(obj) {
    obj.metadata.labels = { ...stringRecord(obj.metadata.labels), [NAMESPACE_NAME_LABEL]: obj.metadata.name };
    obj.spec = isObject(obj.spec) ? obj.spec : { finalizers: ['kubernetes'] };
  },
  validate: (obj) => validateName(obj.metadata, true),
  initialStatus: () => ({ phase: 'Active' }),
};

const serviceStrategy: Strategy = {
  prepare(obj, old, ctx) {
    const spec = isObject(obj.spec) ? obj.spec : {};
    const oldSpec = old && isObject(old.spec) ? old.spec : {};
    spec.type ??= 'ClusterIP';
    spec.sessionAffinity ??= 'None';
    if (spec.type !== 'ExternalName' && !spec.clusterIP)
      spec.clusterIP = oldSpec.clusterIP ?? ctx.allocateClusterIP();
    if (typeof spec.clusterIP === 'string') spec.clusterIPs ??= [spec.clusterIP];
    for (const port of Array.isArray(spec.ports) ? spec.ports : []) {
      if (!isObject(port)) continue;
      port.protocol ??= 'TCP';
      port.targetPort ??= port.port;
    }
    obj.spec = spec;
  },
  validate: (obj) => validateName(obj.metadata, true),
  initialStatus: () => ({ loadBalancer: {} }),
};

const secretStrategy: Strategy = {
  prepare(obj) {
    obj.type ??= 'Opaque';
    const stringData = stringRecord(obj.stringData);
    if (Object.keys(stringData).length > 0) {
      const encoded = Object.entries(stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')]);
      obj.data = { ...stringRecord(obj.data), ...Object.fromEntries(encoded) };
    }
    delete obj.stringData;
  },
  validate: (obj) => validateName(obj.metadata, false),
  initialStatus: () => undefined,
};

function defaultPodSpec(spec: JsonObject): void {
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  for (const container of Array.isArray(spec.containers) ? spec.containers : []) {
    if (!isObject(container)) continue;
    const image = typeof container.image === 'string' ? container.image : '';
    const tag = imageTag(image);
    container.imagePullPolicy ??= tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
    container.terminationMessagePath ??= '/dev/termination-log';
    container.terminationMessagePolicy ??= 'File';
    container.resources ??= {};
    for (const port of Array.isArray(container.ports) ? container.ports : []) {
      if (isObject(port)) port.protocol ??= 'TCP';
    }
  }
}

function defaultDeployment(obj: KubeObject): void {
  const spec = isObject(obj.spec) ? obj.spec : {};
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  const strategy = isObject(spec.strategy) ? spec.strategy : {};
  strategy.type ??= 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const rolling = isObject(strategy.rollingUpdate) ? strategy.rollingUpdate : {};
    rolling.maxSurge ??= '25%';
    rolling.maxUnavailable ??= '25%';
    strategy.rollingUpdate = rolling;
  }
  spec.strategy = strategy;
  if (isObject(spec.template)) {
    spec.template.metadata = isObject(spec.template.metadata) ? spec.template.metadata : {};
    if (isObject(spec.template.spec)) defaultPodSpec(spec.template.spec);
  }
  obj.spec = spec;
}

function validateTemplate(template: unknown): FieldError[] {
  if (!isObject(template) || !isObject(template.spec)) return [required('spec.template.spec.containers')];
  const containers = template.spec.containers;
  if (!Array.isArray(containers) || containers.length === 0)
    return [required('spec.template.spec.containers')];
  return containers.flatMap((c, i) => {
    const path = `spec.template.spec.containers[${i}]`;
    const errors: FieldError[] = [];
    if (!isObject(c) || typeof c.name !== 'string' || c.name === '') errors.push(required(`${path}.name`));
    if (!isObject(c) || typeof c.image !== 'string' || c.image === '') errors.push(required(`${path}.image`));
    return errors;
  });
}

function validateSelector(spec: JsonObject, old: KubeObject | undefined): FieldError[] {
  const selector = spec.selector;
  if (
    !isObject(selector) ||
    (Object.keys(stringRecord(selector.matchLabels)).length === 0 && !selector.matchExpressions)
  ) {
    return [required('spec.selector')];
  }
  const oldSelector = old && isObject(old.spec) ? old.spec.selector : undefined;
  if (old && !deepEqual(oldSelector, selector))
    return [invalidValue('spec.selector', selector, 'field is immutable')];
  const template = isObject(spec.template) && isObject(spec.template.metadata) ? spec.template.metadata : {};
  const labels = stringRecord(template.labels);
  if (!matchesRequirements(labels, parseSelector(selectorString(selector as LabelSelector)))) {
    return [
      invalidValue('spec.template.metadata.labels', labels, '`selector` does not match template `labels`'),
    ];
  }
  return [];
}

function validateDeployment(obj: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errors = validateName(obj.metadata, false);
  const spec = isObject(obj.spec) ? obj.spec : {};
  const { replicas, revisionHistoryLimit } = spec;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas)) {
    errors.push(invalidValue('spec.replicas', replicas, 'must be an integer'));
  } else if (replicas < 0) {
    errors.push(invalidValue('spec.replicas', replicas, 'must be greater than or equal to 0'));
  }
  if (typeof revisionHistoryLimit !== 'number' || revisionHistoryLimit < 0) {
    errors.push(
      invalidValue('spec.revisionHistoryLimit', revisionHistoryLimit, 'must be greater than or equal to 0'),
    );
  }
  return [...errors, ...validateSelector(spec, old), ...validateTemplate(spec.template)];
}

const deploymentStrategy: Strategy = {
  prepare: (obj) => defaultDeployment(obj),
  validate: validateDeployment,
  initialStatus: () => ({}),
};

function strategyFor(type: ResourceType): Strategy {
  if (sameType(type, DEPLOYMENTS)) return deploymentStrategy;
  if (sameType(type, NAMESPACES)) return namespaceStrategy;
  if (type.group === '' && type.plural === 'services') return serviceStrategy;
  if (type.group === '' && type.plural === 'secrets') return secretStrategy;
  return genericStrategy;
}

// ---------------------------------------------------------------------------------------------------------
// Object store
// ---------------------------------------------------------------------------------------------------------

interface ObjectRef {
  group: string;
  plural: string;
  namespace: string;
  name: string;
}

const refKey = (r: ObjectRef) => `${r.group}|${r.plural}|${r.namespace}|${r.name}`;
const refOf = (t: GroupResource, obj: KubeObject): ObjectRef => ({
  group: t.group,
  plural: t.plural,
  namespace: obj.metadata.namespace ?? '',
  name: obj.metadata.name,
});

/** In-memory etcd: a global resourceVersion counter bumped on every write and delete. */
class ObjectStore {
  private readonly entries = new Map<string, { ref: ObjectRef; obj: KubeObject }>();
  private counter = 0;

  get resourceVersion(): string {
    return String(this.counter);
  }

  get(ref: ObjectRef): KubeObject | undefined {
    const found = this.entries.get(refKey(ref));
    return found && clone(found.obj);
  }

  /** Objects of one resource, in one namespace or all of them, sorted by namespace and name like etcd keys. */
  list(group: string, plural: string, namespace?: string): KubeObject[] {
    return [...this.entries.values()]
      .filter(
        ({ ref }) =>
          ref.group === group &&
          ref.plural === plural &&
          (namespace === undefined || ref.namespace === namespace),
      )
      .sort((a, b) => (refKey(a.ref) < refKey(b.ref) ? -1 : 1))
      .map(({ obj }) => clone(obj));
  }

  refsInNamespace(namespace: string): ObjectRef[] {
    return [...this.entries.values()].filter(({ ref }) => ref.namespace === namespace).map(({ ref }) => ref);
  }

  /** Persists the object with a fresh resourceVersion and returns the stored copy. */
  commit(ref: ObjectRef, obj: KubeObject): KubeObject {
    this.counter++;
    obj.metadata.resourceVersion = String(this.counter);
    this.entries.set(refKey(ref), { ref: { ...ref }, obj: clone(obj) });
    return clone(obj);
  }

  delete(ref: ObjectRef): boolean {
    const deleted = this.entries.delete(refKey(ref));
    if (deleted) this.counter++;
    return deleted;
  }
}

function stampCreated(obj: KubeObject): void {
  obj.metadata.uid = randomUUID();
  obj.metadata.creationTimestamp = timestamp();
  obj.metadata.generation = 1;
  delete obj.metadata.resourceVersion;
}

/** Everything but metadata and status: a change here is a new generation. */
function contentOf(obj: KubeObject): JsonObject {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...content } = obj;
  return content;
}

/** Carries server-owned fields over from the stored object, bumping generation if the content changed. */
function stampUpdated(existing: KubeObject, candidate: KubeObject): void {
  const meta = candidate.metadata;
  meta.uid = existing.metadata.uid;
  meta.creationTimestamp = existing.metadata.creationTimestamp;
  if (existing.metadata.resourceVersion !== undefined)
    meta.resourceVersion = existing.metadata.resourceVersion;
  if (existing.status === undefined) delete candidate.status;
  else candidate.status = clone(existing.status);
  const changed = !deepEqual(contentOf(existing), contentOf(candidate));
  meta.generation = (existing.metadata.generation ?? 1) + (changed ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------------------
// Pods: synthesized from ReplicaSets
// ---------------------------------------------------------------------------------------------------------

interface PodSlot {
  suffix: string;
  uid: string;
  startedAt: string;
}

function imageTag(image: string): string {
  const lastColon = image.lastIndexOf(':');
  return lastColon > image.lastIndexOf('/') ? (image.slice(lastColon + 1).split('@')[0] ?? '') : '';
}

/** Images tagged "...broken..." crash forever: the sandbox's way to produce a stuck rollout. */
function isBrokenTemplate(template: PodTemplate): boolean {
  return template.spec.containers.some((c) => imageTag(c.image).includes('broken'));
}

/** Stable pod identities per ReplicaSet; deleting a pod gives its slot a new identity, as the RS would. */
class PodRegistry {
  private readonly slots = new Map<string, PodSlot[]>();

  slotsFor(rs: ReplicaSetObject): PodSlot[] {
    const slots = this.slots.get(rs.metadata.uid) ?? [];
    while (slots.length < rs.spec.replicas) slots.push(newSlot());
    slots.length = rs.spec.replicas;
    this.slots.set(rs.metadata.uid, slots);
    return slots;
  }

  replace(rsUid: string, index: number): void {
    const slots = this.slots.get(rsUid);
    if (slots && index < slots.length) slots[index] = newSlot();
  }

  trim(rsUid: string, replicas: number): void {
    const slots = this.slots.get(rsUid);
    if (slots && slots.length > replicas) slots.length = replicas;
  }

  forget(rsUid: string): void {
    this.slots.delete(rsUid);
  }
}

const newSlot = (): PodSlot => ({ suffix: randomSuffix(), uid: randomUUID(), startedAt: timestamp() });

interface PodHealth {
  broken: boolean;
  trouble: PodTrouble;
}

function containerStatus(
  c: Container,
  ready: boolean,
  startedAt: string,
  waitingReason: string,
  restarts: number,
): JsonObject {
  return {
    name: c.name,
    image: c.image,
    imageID: `${c.image.split(':')[0]}@sha256:${fnv32a(c.image).toString(16).padStart(8, '0').repeat(8)}`,
    ready,
    started: ready,
    restartCount: restarts,
    state: ready ? { running: { startedAt } } : { waiting: { reason: waitingReason } },
  };
}

function synthesizePod(rs: ReplicaSetObject, slot: PodSlot, ready: boolean, health: PodHealth): KubeObject {
  const template = rs.spec.template;
  const unhealthy = health.broken || (health.trouble.notReady ?? 0) > 0;
  const waitingReason = unhealthy ? 'CrashLoopBackOff' : 'ContainerCreating';
  const restarts = health.trouble.restarts ?? 0;
  const readyStatus = ready ? 'True' : 'False';
  const ipHash = fnv32a(slot.uid);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${rs.metadata.name}-${slot.suffix}`,
      generateName: `${rs.metadata.name}-`,
      namespace: rs.metadata.namespace ?? '',
      uid: slot.uid,
      resourceVersion: rs.metadata.resourceVersion ?? '',
      creationTimestamp: slot.startedAt,
      labels: { ...(template.metadata.labels ?? {}) },
      ...(template.metadata.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: rs.metadata.name,
          uid: rs.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: { ...clone(template.spec), nodeName: 'sandbox-node' },
    status: {
      phase: 'Running',
      conditions: [
        { type: 'Initialized', status: 'True', lastTransitionTime: slot.startedAt },
        { type: 'Ready', status: readyStatus, lastTransitionTime: slot.startedAt },
        { type: 'ContainersReady', status: readyStatus, lastTransitionTime: slot.startedAt },
        { type: 'PodScheduled', status: 'True', lastTransitionTime: slot.startedAt },
      ],
      hostIP: '10.0.0.10',
      podIP: `10.244.${ipHash % 250}.${((ipHash >>> 8) % 250) + 2}`,
      startTime: slot.startedAt,
      containerStatuses: template.spec.containers.map((c) =>
        containerStatus(c, ready, slot.startedAt, waitingReason, restarts),
      ),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Deployment controller
// ---------------------------------------------------------------------------------------------------------

interface Rollout {
  stepTimer: NodeJS.Timeout | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
  /** When the rollout last made progress, in ms: the start of the progress deadline. */
  lastProgressAt: number;
  trouble: PodTrouble;
}

type NewReplicaSetEvent = 'created' | 'found' | 'none';

const revisionOf = (obj: KubeObject) => Number(obj.metadata.annotations?.[REVISION] ?? 0) || 0;
const readyOf = (rs: ReplicaSetObject) => rs.status.readyReplicas ?? 0;
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

function withoutHashLabel(template: PodTemplate): PodTemplate {
  const copy = clone(template);
  if (copy.metadata.labels) delete copy.metadata.labels[POD_TEMPLATE_HASH];
  return copy;
}

const sameTemplate = (rsTemplate: PodTemplate, template: PodTemplate) =>
  deepEqual(withoutHashLabel(rsTemplate), template);

function resolveFencepost(value: number | string | undefined, desired: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const percent = Number.parseInt(value ?? '25%', 10);
  const exact = (desired * percent) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** maxSurge/maxUnavailable in pods, as deploymentutil.ResolveFenceposts computes them. */
function fenceposts(dep: DeploymentObject): { maxSurge: number; maxUnavailable: number } {
  const desired = dep.spec.replicas;
  if (dep.spec.strategy.type === 'Recreate') return { maxSurge: 0, maxUnavailable: desired };
  const rolling = dep.spec.strategy.rollingUpdate ?? {};
  const maxSurge = resolveFencepost(rolling.maxSurge, desired, true);
  const maxUnavailable = resolveFencepost(rolling.maxUnavailable, desired, false);
  return { maxSurge, maxUnavailable: maxSurge === 0 && maxUnavailable === 0 ? 1 : maxUnavailable };
}

function omitZeroes(status: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(status).filter(([, v]) => v !== 0));
}

function replicaSetStatus(rs: ReplicaSetObject): ReplicaSetStatus {
  const replicas = rs.spec.replicas;
  const ready = Math.min(readyOf(rs), replicas);
  return {
    replicas,
    ...omitZeroes({ fullyLabeledReplicas: replicas, readyReplicas: ready, availableReplicas: ready }),
    observedGeneration: rs.metadata.generation ?? 1,
  };
}

function calculateStatus(
  dep: DeploymentObject,
  newRs: ReplicaSetObject | undefined,
  all: ReplicaSetObject[],
): DeploymentStatus {
  const replicas = sum(all.map((rs) => rs.spec.replicas));
  const available = sum(all.map(readyOf));
  return {
    ...(dep.status.observedGeneration === undefined
      ? {}
      : { observedGeneration: dep.status.observedGeneration }),
    ...omitZeroes({
      replicas,
      updatedReplicas: newRs?.spec.replicas ?? 0,
      readyReplicas: available,
      availableReplicas: available,
      unavailableReplicas: Math.max(0, replicas - available),
    }),
    ...(dep.status.conditions ? { conditions: dep.status.conditions } : {}),
  };
}

function progressingReason(status: DeploymentStatus): string | undefined {
  return status.conditions?.find((c) => c.type === 'Progressing')?.reason;
}

function setCondition(
  status: DeploymentStatus,
  next: Omit<Condition, 'lastTransitionTime' | 'lastUpdateTime'>,
  refresh = false,
): void {
  const conditions = status.conditions ?? [];
  const current = conditions.find((c) => c.type === next.type);
  if (current && current.status === next.status && current.reason === next.reason && !refresh) return;
  const now = timestamp();
  const condition: Condition = {
    ...next,
    lastUpdateTime: now,
    lastTransitionTime: current && current.status === next.status ? current.lastTransitionTime : now,
  };
  const order = ['Available', 'Progressing', 'ReplicaFailure'];
  status.conditions = [...conditions.filter((c) => c.type !== next.type), condition].sort(
    (a, b) => order.indexOf(a.type) - order.indexOf(b.type),
  );
}

/** DeploymentComplete: every replica updated and available, and the latest spec observed. */
function isComplete(dep: DeploymentObject): boolean {
  const s = dep.status;
  const desired = dep.spec.replicas;
  return (
    (s.updatedReplicas ?? 0) === desired &&
    (s.replicas ?? 0) === desired &&
    (s.availableReplicas ?? 0) === desired &&
    (s.observedGeneration ?? 0) >= (dep.metadata.generation ?? 1)
  );
}

/** DeploymentProgressing: more updated/ready/available pods or fewer old pods than before. */
function madeProgress(before: DeploymentStatus, after: DeploymentStatus): boolean {
  const oldPods = (s: DeploymentStatus) => (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (
    (after.updatedReplicas ?? 0) > (before.updatedReplicas ?? 0) ||
    oldPods(after) < oldPods(before) ||
    (after.readyReplicas ?? 0) > (before.readyReplicas ?? 0) ||
    (after.availableReplicas ?? 0) > (before.availableReplicas ?? 0)
  );
}

/**
 * The deployment controller: creates/adopts ReplicaSets, moves pods one step at a time (RollingUpdate with
 * maxSurge/maxUnavailable, or Recreate), maintains status and conditions, and enforces progress deadlines.
 */
class DeploymentController {
  private readonly rollouts = new Map<string, Rollout>();

  constructor(
    private readonly store: ObjectStore,
    private readonly pods: PodRegistry,
    private readonly stepMs: number,
    private readonly deadlineScale: number,
  ) {}

  onWrite(namespace: string, name: string): void {
    const dep = this.deployment(namespace, name);
    if (!dep) return;
    const rollout = this.rollout(namespace, name);
    if (dep.status.observedGeneration !== dep.metadata.generation) rollout.lastProgressAt = Date.now();
    if (this.stepMs === 0) this.runToCompletion(namespace, name);
    else this.startStepping(namespace, name);
    this.armDeadline(namespace, name);
  }

  onDelete(dep: KubeObject, orphan: boolean): void {
    const key = `${dep.metadata.namespace}/${dep.metadata.name}`;
    this.stopTimers(key);
    this.rollouts.delete(key);
    if (orphan) return;
    for (const rs of this.owned(dep)) this.deleteReplicaSet(rs);
  }

  setTrouble(namespace: string, name: string, trouble: PodTrouble): void {
    this.rollout(namespace, name).trouble = { ...trouble };
    this.pass(namespace, name);
    this.onWrite(namespace, name);
  }

  troubleFor(namespace: string, name: string): PodTrouble {
    return this.rollouts.get(`${namespace}/${name}`)?.trouble ?? {};
  }

  /** Drives one rollout as far as it can go, now; a stuck one stays stuck. */
  settle(namespace: string, name: string): void {
    this.stopStepping(`${namespace}/${name}`);
    this.runToCompletion(namespace, name);
    this.armDeadline(namespace, name);
  }

  settleAll(): void {
    for (const dep of this.store.list(DEPLOYMENTS.group, DEPLOYMENTS.plural))
      this.settle(dep.metadata.namespace ?? '', dep.metadata.name);
  }

  close(): void {
    for (const key of this.rollouts.keys()) this.stopTimers(key);
  }

  private rollout(namespace: string, name: string): Rollout {
    const key = `${namespace}/${name}`;
    let rollout = this.rollouts.get(key);
    if (!rollout) {
      rollout = { stepTimer: undefined, deadlineTimer: undefined, lastProgressAt: Date.now(), trouble: {} };
      this.rollouts.set(key, rollout);
    }
    return rollout;
  }

  private deployment(namespace: string, name: string): DeploymentObject | undefined {
    return this.store.get({ group: DEPLOYMENTS.group, plural: DEPLOYMENTS.plural, namespace, name }) as
      | DeploymentObject
      | undefined;
  }

  private owned(dep: KubeObject): ReplicaSetObject[] {
    const all = this.store.list(
      REPLICASETS.group,
      REPLICASETS.plural,
      dep.metadata.namespace,
    ) as ReplicaSetObject[];
    return all.filter((rs) =>
      rs.metadata.ownerReferences?.some((o) => o.controller && o.uid === dep.metadata.uid),
    );
  }

  // -- timers --------------------------------------------------------------------------------------------

  private startStepping(namespace: string, name: string): void {
    const rollout = this.rollout(namespace, name);
    if (rollout.stepTimer) return;
    rollout.stepTimer = setInterval(() => this.tick(namespace, name), this.stepMs);
    rollout.stepTimer.unref();
  }

  private tick(namespace: string, name: string): void {
    const changed = this.pass(namespace, name);
    const dep = this.deployment(namespace, name);
    // Stop once done or stuck; the next write (or trouble change) starts stepping again.
    if (!dep || !changed || dep.spec.paused || isComplete(dep)) this.stopStepping(`${namespace}/${name}`);
    if (changed) this.armDeadline(namespace, name);
  }

  private stopStepping(key: string): void {
    const rollout = this.rollouts.get(key);
    if (rollout?.stepTimer) clearInterval(rollout.stepTimer);
    if (rollout) rollout.stepTimer = undefined;
  }

  private stopTimers(key: string): void {
    this.stopStepping(key);
    const rollout = this.rollouts.get(key);
    if (rollout?.deadlineTimer) clearTimeout(rollout.deadlineTimer);
    if (rollout) rollout.deadlineTimer = undefined;
  }

  private runToCompletion(namespace: string, name: string): void {
    for (let i = 0; i < 10_000 && this.pass(namespace, name); i++);
  }

  private armDeadline(namespace: string, name: string): void {
    const rollout = this.rollout(namespace, name);
    if (rollout.deadlineTimer) clearTimeout(rollout.deadlineTimer);
    rollout.deadlineTimer = undefined;
    const dep = this.deployment(namespace, name);
    if (!dep || !this.deadlineApplies(dep)) return;
    const deadlineMs = dep.spec.progressDeadlineSeconds * 1000 * this.deadlineScale;
    const wait = Math.max(0, rollout.lastProgressAt + deadlineMs - Date.now());
    rollout.deadlineTimer = setTimeout(() => this.checkDeadline(namespace, name), wait);
    rollout.deadlineTimer.unref();
  }

  private deadlineApplies(dep: DeploymentObject): boolean {
    const reason = progressingReason(dep.status);
    return (
      !dep.spec.paused &&
      !isComplete(dep) &&
      reason !== 'NewReplicaSetAvailable' &&
      reason !== 'ProgressDeadlineExceeded'
    );
  }

  private checkDeadline(namespace: string, name: string): void {
    const dep = this.deployment(namespace, name);
    const rollout = this.rollouts.get(`${namespace}/${name}`);
    if (!dep || !rollout || !this.deadlineApplies(dep)) return;
    const deadlineMs = dep.spec.progressDeadlineSeconds * 1000 * this.deadlineScale;
    if (Date.now() - rollout.lastProgressAt < deadlineMs) {
      this.armDeadline(namespace, name);
      return;
    }
    const next = clone(dep);
    const rsName =
      this.owned(dep).find((rs) => sameTemplate(rs.spec.template, dep.spec.template))?.metadata.name ?? name;
    setCondition(next.status, {
      type: 'Progressing',
      status: 'False',
      reason: 'ProgressDeadlineExceeded',
      message: `ReplicaSet "${rsName}" has timed out progressing.`,
    });
    this.saveDeployment(dep, next);
  }

  // -- one controller pass ---------------------------------------------------------------------------------

  /** One sync of the deployment: observe, find or create the new ReplicaSet, move pods one step. */
  private pass(namespace: string, name: string): boolean {
    const dep = this.deployment(namespace, name);
    if (!dep) return false;
    const next = clone(dep);
    next.status.observedGeneration = dep.metadata.generation ?? 1;
    if (dep.spec.paused) return this.syncPaused(dep, next);
    if (progressingReason(dep.status) === 'DeploymentPaused') {
      setCondition(next.status, {
        type: 'Progressing',
        status: 'Unknown',
        reason: 'DeploymentResumed',
        message: 'Deployment is resumed',
      });
    }
    const { rs: newRs, event } = this.ensureNewReplicaSet(next);
    const olds = this.owned(dep).filter((rs) => rs.metadata.uid !== newRs.metadata.uid);
    const moved = this.advance(next, newRs, olds);
    this.cleanupHistory(next, olds);
    next.status = calculateStatus(next, newRs, [newRs, ...olds]);
    this.updateConditions(dep, next, newRs, event);
    const saved = this.saveDeployment(dep, next);
    return event !== 'none' || moved || saved;
  }

  private syncPaused(dep: DeploymentObject, next: DeploymentObject): boolean {
    const owned = this.owned(dep);
    const current = owned.find((rs) => sameTemplate(rs.spec.template, dep.spec.template));
    next.status = calculateStatus(next, current, owned);
    setCondition(next.status, {
      type: 'Progressing',
      status: 'Unknown',
      reason: 'DeploymentPaused',
      message: 'Deployment is paused',
    });
    this.setAvailability(next);
    return this.saveDeployment(dep, next);
  }

  private updateConditions(
    dep: DeploymentObject,
    next: DeploymentObject,
    newRs: ReplicaSetObject,
    event: NewReplicaSetEvent,
  ): void {
    const rollout = this.rollout(dep.metadata.namespace ?? '', dep.metadata.name);
    const rsName = newRs.metadata.name;
    this.setAvailability(next);
    if (event === 'created') {
      setCondition(next.status, {
        type: 'Progressing',
        status: 'True',
        reason: 'NewReplicaSetCreated',
        message: `Created new replica set "${rsName}"`,
      });
    } else if (event === 'found' && progressingReason(next.status) === undefined) {
      setCondition(next.status, {
        type: 'Progressing',
        status: 'True',
        reason: 'FoundNewReplicaSet',
        message: `Found new replica set "${rsName}"`,
      });
    }
    if (event !== 'none') rollout.lastProgressAt = Date.now();
    if (isComplete(next)) {
      setCondition(next.status, {
        type: 'Progressing',
        status: 'True',
        reason: 'NewReplicaSetAvailable',
        message: `ReplicaSet "${rsName}" has successfully progressed.`,
      });
    } else if (madeProgress(dep.status, next.status)) {
      setCondition(
        next.status,
        {
          type: 'Progressing',
          status: 'True',
          reason: 'ReplicaSetUpdated',
          message: `ReplicaSet "${rsName}" is progressing.`,
        },
        true,
      );
      rollout.lastProgressAt = Date.now();
    }
  }

  private setAvailability(dep: DeploymentObject): void {
    const minAvailable = dep.spec.replicas - fenceposts(dep).maxUnavailable;
    if ((dep.status.availableReplicas ?? 0) >= minAvailable) {
      setCondition(dep.status, {
        type: 'Available',
        status: 'True',
        reason: 'MinimumReplicasAvailable',
        message: 'Deployment has minimum availability.',
      });
    } else {
      setCondition(dep.status, {
        type: 'Available',
        status: 'False',
        reason: 'MinimumReplicasUnavailable',
        message: 'Deployment does not have minimum availability.',
      });
    }
  }

  private saveDeployment(dep: DeploymentObject, next: DeploymentObject): boolean {
    if (deepEqual(dep, next)) return false;
    this.store.commit(
      {
        group: DEPLOYMENTS.group,
        plural: DEPLOYMENTS.plural,
        namespace: dep.metadata.namespace ?? '',
        name: dep.metadata.name,
      },
      next,
    );
    return true;
  }

  // -- ReplicaSets -------------------------------------------------------------------------------------

  /** Finds the ReplicaSet matching the template (a rollback reuses an old one) or creates it; sets revisions. */
  private ensureNewReplicaSet(dep: DeploymentObject): { rs: ReplicaSetObject; event: NewReplicaSetEvent } {
    const owned = this.owned(dep);
    const match = owned.find((rs) => sameTemplate(rs.spec.template, dep.spec.template));
    const otherMax = Math.max(0, ...owned.filter((rs) => rs !== match).map(revisionOf));
    if (!match) {
      const rs = this.createReplicaSet(dep, otherMax + 1);
      return { rs, event: 'created' };
    }
    const current = revisionOf(match);
    const revision = current > otherMax ? current : otherMax + 1;
    const history = match.metadata.annotations?.[REVISION_HISTORY];
    const nextHistory = revision === current ? history : [history, String(current)].filter(Boolean).join(',');
    const annotations = this.replicaSetAnnotations(dep, revision, nextHistory);
    if (!deepEqual(match.metadata.annotations, annotations)) {
      match.metadata.annotations = annotations;
      this.saveReplicaSet(match);
    }
    this.setDeploymentRevision(dep, revision);
    return { rs: match, event: revision === current ? 'none' : 'found' };
  }

  private createReplicaSet(dep: DeploymentObject, revision: number): ReplicaSetObject {
    const namespace = dep.metadata.namespace ?? '';
    const template = dep.spec.template;
    let hash = '';
    for (
      let collisions = 0;
      hash === '' || this.store.get(this.rsRef(namespace, `${dep.metadata.name}-${hash}`));
      collisions++
    ) {
      hash = safeEncode(
        String(fnv32a(stableStringify(template) + (collisions > 0 ? String(collisions) : ''))),
      );
    }
    const labels = { ...(template.metadata.labels ?? {}), [POD_TEMPLATE_HASH]: hash };
    const rs: ReplicaSetObject = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${dep.metadata.name}-${hash}`,
        namespace,
        uid: '',
        creationTimestamp: '',
        labels,
        annotations: this.replicaSetAnnotations(dep, revision, undefined),
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name: dep.metadata.name,
            uid: dep.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        replicas: 0,
        selector: {
          ...clone(dep.spec.selector),
          matchLabels: { ...(dep.spec.selector.matchLabels ?? {}), [POD_TEMPLATE_HASH]: hash },
        },
        template: { metadata: { ...clone(template.metadata), labels }, spec: clone(template.spec) },
      },
      status: { replicas: 0 },
    };
    stampCreated(rs);
    rs.status = replicaSetStatus(rs);
    Object.assign(rs, this.store.commit(this.rsRef(namespace, rs.metadata.name), rs));
    this.setDeploymentRevision(dep, revision);
    return rs;
  }

  private replicaSetAnnotations(
    dep: DeploymentObject,
    revision: number,
    history: string | undefined,
  ): Record<string, string> {
    const copied = Object.entries(dep.metadata.annotations ?? {}).filter(
      ([key]) => !ANNOTATIONS_NOT_COPIED.has(key),
    );
    return {
      ...Object.fromEntries(copied),
      [DESIRED_REPLICAS]: String(dep.spec.replicas),
      [MAX_REPLICAS]: String(dep.spec.replicas + fenceposts(dep).maxSurge),
      [REVISION]: String(revision),
      ...(history ? { [REVISION_HISTORY]: history } : {}),
    };
  }

  private setDeploymentRevision(dep: DeploymentObject, revision: number): void {
    dep.metadata.annotations = { ...(dep.metadata.annotations ?? {}), [REVISION]: String(revision) };
  }

  private rsRef(namespace: string, name: string): ObjectRef {
    return { group: REPLICASETS.group, plural: REPLICASETS.plural, namespace, name };
  }

  private saveReplicaSet(rs: ReplicaSetObject): void {
    const stored = this.store.get(this.rsRef(rs.metadata.namespace ?? '', rs.metadata.name));
    if (stored && rs.spec.replicas !== (stored as ReplicaSetObject).spec.replicas) {
      rs.metadata.generation = (stored.metadata.generation ?? 1) + 1;
    }
    rs.status = replicaSetStatus(rs);
    this.pods.trim(rs.metadata.uid, rs.spec.replicas);
    Object.assign(rs, this.store.commit(this.rsRef(rs.metadata.namespace ?? '', rs.metadata.name), rs));
  }

  private scaleReplicaSet(rs: ReplicaSetObject, delta: number): void {
    rs.spec.replicas += delta;
    rs.status.readyReplicas = Math.min(readyOf(rs), rs.spec.replicas);
    this.saveReplicaSet(rs);
  }

  private deleteReplicaSet(rs: ReplicaSetObject): void {
    this.store.delete(this.rsRef(rs.metadata.namespace ?? '', rs.metadata.name));
    this.pods.forget(rs.metadata.uid);
  }

  private cleanupHistory(dep: DeploymentObject, olds: ReplicaSetObject[]): void {
    const idle = olds.filter((rs) => rs.spec.replicas === 0).sort((a, b) => revisionOf(a) - revisionOf(b));
    for (const rs of idle.slice(0, Math.max(0, idle.length - dep.spec.revisionHistoryLimit))) {
      this.deleteReplicaSet(rs);
      olds.splice(olds.indexOf(rs), 1);
    }
  }

  // -- moving pods -----------------------------------------------------------------------------------------

  /** One step: pods created last step become ready, then at most one old pod goes and one new pod comes. */
  private advance(dep: DeploymentObject, newRs: ReplicaSetObject, olds: ReplicaSetObject[]): boolean {
    let moved = this.promote(dep, newRs);
    const withPods = olds.filter((rs) => rs.spec.replicas > 0).sort((a, b) => revisionOf(a) - revisionOf(b));
    if (dep.spec.strategy.type === 'Recreate') return this.stepRecreate(dep, newRs, withPods) || moved;
    moved = this.scaleDownOld(dep, newRs, withPods) || moved;
    return this.scaleNew(dep, newRs, [newRs, ...olds]) || moved;
  }

  private promote(dep: DeploymentObject, newRs: ReplicaSetObject): boolean {
    const trouble = this.troubleFor(dep.metadata.namespace ?? '', dep.metadata.name);
    const target = isBrokenTemplate(newRs.spec.template)
      ? 0
      : Math.max(0, newRs.spec.replicas - (trouble.notReady ?? 0));
    if (readyOf(newRs) === target) return false;
    newRs.status.readyReplicas = target;
    this.saveReplicaSet(newRs);
    return true;
  }

  private scaleDownOld(dep: DeploymentObject, newRs: ReplicaSetObject, olds: ReplicaSetObject[]): boolean {
    const oldest = olds[0];
    if (!oldest) return false;
    const total = newRs.spec.replicas + sum(olds.map((rs) => rs.spec.replicas));
    const minAvailable = dep.spec.replicas - fenceposts(dep).maxUnavailable;
    const newUnavailable = newRs.spec.replicas - readyOf(newRs);
    if (total - minAvailable - newUnavailable <= 0) return false;
    this.scaleReplicaSet(oldest, -1);
    return true;
  }

  private scaleNew(dep: DeploymentObject, newRs: ReplicaSetObject, all: ReplicaSetObject[]): boolean {
    const desired = dep.spec.replicas;
    const total = sum(all.map((rs) => rs.spec.replicas));
    if (newRs.spec.replicas > desired && total === newRs.spec.replicas) {
      this.scaleReplicaSet(newRs, -1);
      return true;
    }
    if (newRs.spec.replicas >= desired || total >= desired + fenceposts(dep).maxSurge) return false;
    this.scaleReplicaSet(newRs, 1);
    return true;
  }

  private stepRecreate(dep: DeploymentObject, newRs: ReplicaSetObject, olds: ReplicaSetObject[]): boolean {
    const oldest = olds[0];
    if (oldest) {
      this.scaleReplicaSet(oldest, -1);
      return true;
    }
    const delta = Math.sign(dep.spec.replicas - newRs.spec.replicas);
    if (delta === 0) return false;
    this.scaleReplicaSet(newRs, delta);
    return true;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------------------

interface ParsedRequest {
  method: string;
  pathname: string;
  query: Record<string, string>;
  contentType: string | undefined;
  body: unknown;
  bodyError: string | undefined;
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface Route {
  type: ResourceType;
  namespace: string;
  name: string | undefined;
  subresource: string | undefined;
}

type Target = { discovery: JsonObject } | { route: Route };

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const VERB_BY_METHOD: Record<string, string> = {
  GET: 'get',
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** Maps the segments after /api/v1 or /apis/{group}/{version} to a resource route. */
function resolveRoute(group: string, version: string, rest: string[]): Target | undefined {
  if (rest.length === 0) {
    const list = resourceList(group, version);
    return list ? { discovery: list } : undefined;
  }
  const namespaceScoped =
    rest[0] === 'namespaces' &&
    rest.length >= 3 &&
    !(rest.length === 3 && NAMESPACE_SUBRESOURCES.has(rest[2] ?? ''));
  if (namespaceScoped) {
    const [, namespace = '', plural = '', name, subresource, ...extra] = rest;
    const type = findType(group, version, plural, true);
    return type && extra.length === 0 ? { route: { type, namespace, name, subresource } } : undefined;
  }
  const [plural = '', name, subresource, ...extra] = rest;
  const type = findType(group, version, plural, false);
  if (!type || extra.length > 0 || (type.namespaced && name !== undefined)) return undefined;
  return { route: { type, namespace: '', name, subresource } };
}

function resolveTarget(pathname: string): Target | undefined {
  const segments = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [root, a, b, ...rest] = segments;
  if (root === 'version' && segments.length === 1) return { discovery: versionInfo() };
  if (root === 'api') {
    if (a === undefined)
      return { discovery: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] } };
    return resolveRoute(
      '',
      a,
      [b, ...rest].filter((s): s is string => s !== undefined),
    );
  }
  if (root !== 'apis') return undefined;
  if (a === undefined) return { discovery: apiGroupList() };
  if (b === undefined) {
    const group = apiGroup(a);
    return group ? { discovery: { kind: 'APIGroup', apiVersion: 'v1', ...group } } : undefined;
  }
  return resolveRoute(a, b, rest);
}

function versionInfo(): JsonObject {
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

function isDryRun(query: Record<string, string>): boolean {
  const value = query.dryRun;
  if (value === undefined || value === '') return false;
  if (value !== 'All')
    throw badRequest(`Invalid dryRun value: ${JSON.stringify(value)}; only "All" is supported`);
  return true;
}

function parseBody(
  raw: Buffer,
  contentType: string | undefined,
): { body: unknown; error: string | undefined } {
  if (raw.length === 0) return { body: undefined, error: undefined };
  const text = raw.toString('utf8');
  const type = mediaType(contentType);
  try {
    return { body: type.includes('yaml') ? parseYaml(text) : JSON.parse(text), error: undefined };
  } catch (err) {
    return { body: text, error: err instanceof Error ? err.message : String(err) };
  }
}

// ---------------------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------------------

interface ActiveFault {
  rule: FaultRule;
  remaining: number;
}

class SandboxKubeApi implements KubeApi {
  url = '';
  readonly token: string;
  readonly requests: RecordedRequest[] = [];
  private readonly server: Server;
  private readonly store = new ObjectStore();
  private readonly pods = new PodRegistry();
  private readonly controller: DeploymentController;
  private faults: ActiveFault[] = [];
  private clusterIPs = 10;
  private readonly ctx: StrategyContext = {
    allocateClusterIP: () => {
      const n = this.clusterIPs++;
      return `10.96.${Math.floor(n / 250)}.${(n % 250) + 1}`;
    },
  };

  constructor(private readonly options: KubeApiOptions) {
    this.token = options.token ?? DEFAULT_TOKEN;
    const stepMs = options.rolloutStepMs ?? DEFAULT_STEP_MS;
    this.controller = new DeploymentController(
      this.store,
      this.pods,
      stepMs,
      options.progressDeadlineScale ?? 1,
    );
    this.server = createServer((req, res) => {
      this.onRequest(req, res).catch(() => res.destroy());
    });
    for (const name of PROTECTED_NAMESPACES) this.ensureNamespace(name);
  }

  async listen(): Promise<void> {
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, host, () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  // -- KubeApi: kubeconfig --------------------------------------------------------------------------------

  kubeconfigYaml(contexts: KubeconfigContext[], current?: string): string {
    const cluster = 'opsbot-sandbox';
    return stringifyYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: cluster, cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: cluster, user: { token: this.token } }],
      contexts: contexts.map((c) => ({
        name: c.name,
        context: { cluster, user: cluster, ...(c.namespace ? { namespace: c.namespace } : {}) },
      })),
      'current-context': current ?? contexts[0]?.name ?? '',
      preferences: {},
    });
  }

  writeKubeconfig(file: string, contexts: KubeconfigContext[], current?: string): void {
    writeFileSync(file, this.kubeconfigYaml(contexts, current), { mode: 0o600 });
  }

  // -- KubeApi: state helpers -------------------------------------------------------------------------------

  ensureNamespace(name: string, labels: Record<string, string> = {}): KubeObject {
    const ref = { group: '', plural: 'namespaces', namespace: '', name };
    const existing = this.store.get(ref);
    if (existing) return existing;
    return this.insert(
      NAMESPACES,
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } } as unknown as KubeObject,
      false,
    );
  }

  applyDeployment(namespace: string, manifest: object, options: { settle?: boolean } = {}): DeploymentObject {
    this.ensureNamespace(namespace);
    const candidate = this.writable(DEPLOYMENTS, manifest, namespace);
    delete candidate.metadata.resourceVersion;
    const existing = this.store.get(refOf(DEPLOYMENTS, candidate));
    const result = existing
      ? this.update(DEPLOYMENTS, existing, candidate, false)
      : this.insert(DEPLOYMENTS, candidate, false);
    if (!options.settle) return result as DeploymentObject;
    this.controller.settle(namespace, result.metadata.name);
    return this.getDeployment(namespace, result.metadata.name) ?? (result as DeploymentObject);
  }

  getDeployment(namespace: string, name: string): DeploymentObject | undefined {
    return this.store.get({ group: 'apps', plural: 'deployments', namespace, name }) as
      | DeploymentObject
      | undefined;
  }

  listReplicaSets(namespace: string, deploymentName?: string): ReplicaSetObject[] {
    const owner = deploymentName === undefined ? undefined : this.getDeployment(namespace, deploymentName);
    if (deploymentName !== undefined && !owner) return [];
    return (this.store.list('apps', 'replicasets', namespace) as ReplicaSetObject[])
      .filter((rs) => !owner || rs.metadata.ownerReferences?.some((o) => o.uid === owner.metadata.uid))
      .sort((a, b) => revisionOf(a) - revisionOf(b));
  }

  getObject(apiPath: string): KubeObject | undefined {
    const [pathname = ''] = apiPath.split('?');
    const target = resolveTarget(pathname);
    if (!target || !('route' in target) || target.route.name === undefined) return undefined;
    try {
      const reply = this.dispatch(target.route, {
        method: 'GET',
        pathname,
        query: {},
        contentType: undefined,
        body: undefined,
        bodyError: undefined,
      });
      return reply.body as KubeObject;
    } catch (err) {
      if (err instanceof KubeStatusError && err.code === 404) return undefined;
      throw err;
    }
  }

  namespaces(): KubeObject[] {
    return this.store.list('', 'namespaces');
  }

  setPodTrouble(namespace: string, deployment: string, trouble: PodTrouble): void {
    if (!this.getDeployment(namespace, deployment)) throw notFound(DEPLOYMENTS, deployment);
    this.controller.setTrouble(namespace, deployment, trouble);
  }

  async settle(): Promise<void> {
    this.controller.settleAll();
  }

  failNext(rule: FaultRule): void {
    this.faults.push({ rule, remaining: rule.times ?? 1 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  async close(): Promise<void> {
    this.controller.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  // -- HTTP -----------------------------------------------------------------------------------------------

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    // Keep reading past the limit so the client gets a 413 rather than a reset connection.
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size <= BODY_LIMIT_BYTES) chunks.push(chunk as Buffer);
    }
    const tooLarge = size > BODY_LIMIT_BYTES;
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const contentType = req.headers['content-type'];
    const parsed = tooLarge
      ? { body: undefined, error: undefined }
      : parseBody(Buffer.concat(chunks), contentType);
    const request: ParsedRequest = {
      method: (req.method ?? 'GET').toUpperCase(),
      pathname: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType,
      body: parsed.body,
      bodyError: parsed.error,
    };
    this.requests.push({
      method: request.method,
      path: request.pathname,
      query: request.query,
      contentType,
      body: request.body,
      at: Date.now(),
    });
    this.send(res, this.respond(request, req.headers.authorization, tooLarge));
  }

  private respond(request: ParsedRequest, authorization: string | undefined, tooLarge: boolean): Reply {
    if (['/healthz', '/livez', '/readyz'].includes(request.pathname)) return { status: 200, body: 'ok' };
    try {
      if (authorization !== `Bearer ${this.token}`)
        throw new KubeStatusError(401, 'Unauthorized', 'Unauthorized');
      const fault = this.takeFault(request);
      if (fault) throw faultError(fault);
      if (tooLarge)
        throw new KubeStatusError(
          413,
          'RequestEntityTooLarge',
          `Request entity too large: limit is ${BODY_LIMIT_BYTES}`,
        );
      return this.route(request);
    } catch (err) {
      const error =
        err instanceof KubeStatusError
          ? err
          : new KubeStatusError(
              500,
              'InternalError',
              `an error on the server ("${String(err)}") has prevented the request from succeeding`,
            );
      return { status: error.code, body: error.toStatus(), headers: error.headers };
    }
  }

  private send(res: ServerResponse, reply: Reply): void {
    const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    const contentType = typeof reply.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
    res.writeHead(reply.status, { 'Content-Type': contentType, ...(reply.headers ?? {}) });
    res.end(text);
  }

  private takeFault(request: ParsedRequest): FaultRule | undefined {
    const index = this.faults.findIndex(({ rule }) => {
      if (rule.path) rule.path.lastIndex = 0;
      return (
        (!rule.method || rule.method.toUpperCase() === request.method) &&
        (!rule.path || rule.path.test(request.pathname))
      );
    });
    const fault = this.faults[index];
    if (!fault) return undefined;
    fault.remaining--;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return fault.rule;
  }

  private route(request: ParsedRequest): Reply {
    const target = resolveTarget(request.pathname);
    if (!target) throw routeNotFound();
    if ('discovery' in target) {
      if (request.method !== 'GET') throw methodNotAllowed();
      return { status: 200, body: target.discovery };
    }
    if (request.query.watch === 'true' || request.query.watch === '1') {
      throw methodNotAllowed('watch is not supported by the sandbox API server');
    }
    if (['POST', 'PUT', 'PATCH'].includes(request.method) && request.bodyError !== undefined) {
      throw badRequest(`couldn't get version/kind; json parse error: ${request.bodyError}`);
    }
    return this.dispatch(target.route, request);
  }

  private dispatch(route: Route, request: ParsedRequest): Reply {
    const { type } = route;
    if (route.subresource !== undefined) return this.subresource(route, request);
    if (sameType(type, PODS)) return this.podRequest(route, request);
    if (!type.verbs.includes(VERB_BY_METHOD[request.method] ?? '')) throw methodNotAllowed();
    if (route.name === undefined) {
      if (request.method === 'GET')
        return { status: 200, body: this.list(type, route.namespace, request.query) };
      if (request.method === 'POST' && (route.namespace !== '' || !type.namespaced)) {
        this.requireBodyType(request);
        const obj = this.writable(type, request.body, route.namespace);
        return { status: 201, body: this.insert(type, obj, isDryRun(request.query)) };
      }
      throw methodNotAllowed();
    }
    const ref = { group: type.group, plural: type.plural, namespace: route.namespace, name: route.name };
    switch (request.method) {
      case 'GET':
        return { status: 200, body: this.mustGet(type, ref) };
      case 'PUT':
        return this.replace(type, ref, request);
      case 'PATCH':
        return this.patch(type, ref, request);
      case 'DELETE':
        return this.remove(type, ref, request);
      default:
        throw methodNotAllowed();
    }
  }

  // -- generic resource operations --------------------------------------------------------------------------

  private mustGet(type: ResourceType, ref: ObjectRef): KubeObject {
    const found = this.store.get(ref);
    if (!found) throw notFound(type, ref.name);
    return found;
  }

  private requireBodyType(request: ParsedRequest): void {
    const type = mediaType(request.contentType);
    if (type !== '' && !BODY_TYPES.includes(type))
      throw unsupportedMediaType([...BODY_TYPES, 'application/vnd.kubernetes.protobuf']);
  }

  private requireNamespace(namespace: string): void {
    if (!this.store.get({ group: '', plural: 'namespaces', namespace: '', name: namespace }))
      throw namespaceNotFound(namespace);
  }

  /** Normalises a request body into an object of this type for this namespace. */
  private writable(type: ResourceType, body: unknown, namespace: string): KubeObject {
    if (!isObject(body)) throw badRequest('the body of the request must be a JSON object');
    const obj = clone(body);
    const metadata = isObject(obj.metadata) ? obj.metadata : {};
    if (type.namespaced) {
      if (metadata.namespace !== undefined && metadata.namespace !== '' && metadata.namespace !== namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      metadata.namespace = namespace;
    } else {
      delete metadata.namespace;
    }
    obj.metadata = metadata;
    if (type.builtin || typeof obj.apiVersion !== 'string') obj.apiVersion = groupVersion(type);
    if (type.builtin || typeof obj.kind !== 'string') obj.kind = type.kind;
    return obj as KubeObject;
  }

  private insert(type: ResourceType, obj: KubeObject, dryRun: boolean): KubeObject {
    const meta = obj.metadata;
    if (!meta.name && typeof meta.generateName === 'string')
      meta.name = `${meta.generateName}${randomSuffix()}`;
    const strategy = strategyFor(type);
    strategy.prepare(obj, undefined, this.ctx);
    const errors = strategy.validate(obj, undefined);
    if (errors.length > 0)
      throw invalid({ ...type, kind: obj.kind }, typeof meta.name === 'string' ? meta.name : '', errors);
    if (type.namespaced) this.requireNamespace(meta.namespace ?? '');
    const ref = refOf(type, obj);
    if (this.store.get(ref)) throw alreadyExists(type, meta.name);
    stampCreated(obj);
    const status = strategy.initialStatus(obj);
    if (status === undefined) delete obj.status;
    else obj.status = status;
    if (dryRun) return obj;
    const stored = this.store.commit(ref, obj);
    this.afterWrite(type, ref);
    return this.store.get(ref) ?? stored;
  }

  /** The shared tail of PUT, PATCH, apply and scale: preconditions, defaulting, validation, persistence. */
  private update(
    type: ResourceType,
    existing: KubeObject,
    candidate: KubeObject,
    dryRun: boolean,
  ): KubeObject {
    const { name, resourceVersion, uid } = existing.metadata;
    if (candidate.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${String(candidate.metadata.name)}) does not match the name on the URL (${name})`,
      );
    }
    const wantedVersion = candidate.metadata.resourceVersion;
    if (wantedVersion && wantedVersion !== resourceVersion) throw conflict(type, name);
    if (candidate.metadata.uid && candidate.metadata.uid !== uid) {
      throw conflict(
        type,
        name,
        `Precondition failed: UID in precondition: ${candidate.metadata.uid}, UID in object meta: ${uid}`,
      );
    }
    const strategy = strategyFor(type);
    strategy.prepare(candidate, existing, this.ctx);
    const errors = strategy.validate(candidate, existing);
    if (errors.length > 0) throw invalid({ ...type, kind: existing.kind }, name, errors);
    stampUpdated(existing, candidate);
    if (deepEqual(candidate, existing) || dryRun) return candidate;
    const ref = refOf(type, existing);
    const stored = this.store.commit(ref, candidate);
    this.afterWrite(type, ref);
    return this.store.get(ref) ?? stored;
  }

  private list(type: ResourceType, namespace: string, query: Record<string, string>): JsonObject {
    const labels = parseSelector(query.labelSelector);
    const fields = fieldMatcher(query.fieldSelector);
    const all = sameType(type, PODS)
      ? this.allPods(namespace)
      : this.store.list(type.group, type.plural, namespace || undefined);
    const items = all.filter((o) => matchesRequirements(o.metadata.labels, labels) && fields(o));
    return {
      kind: `${type.builtin ? type.kind : (items[0]?.kind ?? type.kind)}List`,
      apiVersion: groupVersion(type),
      metadata: { resourceVersion: this.store.resourceVersion },
      // Typed lists of built-in kinds carry no apiVersion/kind on their items.
      items: type.builtin ? items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest) : items,
    };
  }

  private replace(type: ResourceType, ref: ObjectRef, request: ParsedRequest): Reply {
    this.requireBodyType(request);
    const existing = this.mustGet(type, ref);
    const candidate = this.writable(type, request.body, ref.namespace);
    return { status: 200, body: this.update(type, existing, candidate, isDryRun(request.query)) };
  }

  private patchType(type: ResourceType, request: ParsedRequest): string {
    const patchType = mediaType(request.contentType);
    const accepted = type.builtin ? PATCH_TYPES : PATCH_TYPES.filter((t) => t !== STRATEGIC_PATCH);
    if (!accepted.includes(patchType)) throw unsupportedMediaType(accepted);
    return patchType;
  }

  private patch(type: ResourceType, ref: ObjectRef, request: ParsedRequest): Reply {
    const patchType = this.patchType(type, request);
    const dryRun = isDryRun(request.query);
    if (patchType === APPLY_PATCH) return this.apply(type, ref, request, dryRun);
    const existing = this.mustGet(type, ref);
    const patched = applyPatchDocument(patchType, existing, request.body);
    const candidate = this.writable(type, patched, ref.namespace);
    return { status: 200, body: this.update(type, existing, candidate, dryRun) };
  }

  /** Server-side apply, simplified: create when absent, otherwise a strategic merge of the applied config. */
  private apply(type: ResourceType, ref: ObjectRef, request: ParsedRequest, dryRun: boolean): Reply {
    if (!request.query.fieldManager) {
      throw invalid({ group: 'meta.k8s.io', plural: 'patchoptions', kind: 'PatchOptions' }, '', [
        required('fieldManager', 'is required for apply patch'),
      ]);
    }
    if (!isObject(request.body)) throw badRequest('the apply patch must be an object');
    const applied = this.writable(type, request.body, ref.namespace);
    applied.metadata.name ??= ref.name;
    const existing = this.store.get(ref);
    if (!existing) {
      if (applied.metadata.name !== ref.name)
        throw badRequest(
          `the name of the object (${applied.metadata.name}) does not match the name on the URL (${ref.name})`,
        );
      return { status: 201, body: this.insert(type, applied, dryRun) };
    }
    // A resourceVersion in the applied config is a precondition; without one the merge keeps the current one.
    const candidate = this.writable(type, strategicMerge(existing, applied), ref.namespace);
    return { status: 200, body: this.update(type, existing, candidate, dryRun) };
  }

  private remove(type: ResourceType, ref: ObjectRef, request: ParsedRequest): Reply {
    const existing = this.mustGet(type, ref);
    const options = isObject(request.body) ? request.body : {};
    const preconditions = isObject(options.preconditions) ? options.preconditions : {};
    const { resourceVersion, uid } = existing.metadata;
    if (preconditions.resourceVersion && preconditions.resourceVersion !== resourceVersion) {
      throw conflict(
        type,
        ref.name,
        `Precondition failed: ResourceVersion in precondition: ${String(preconditions.resourceVersion)}, ResourceVersion in object meta: ${resourceVersion}`,
      );
    }
    if (preconditions.uid && preconditions.uid !== uid) {
      throw conflict(
        type,
        ref.name,
        `Precondition failed: UID in precondition: ${String(preconditions.uid)}, UID in object meta: ${uid}`,
      );
    }
    if (sameType(type, NAMESPACES) && PROTECTED_NAMESPACES.has(ref.name)) {
      throw new KubeStatusError(
        403,
        'Forbidden',
        `namespaces "${ref.name}" is forbidden: this namespace may not be deleted`,
        statusDetails(type, ref.name),
      );
    }
    const orphan = (request.query.propagationPolicy ?? options.propagationPolicy) === 'Orphan';
    if (!isDryRun(request.query)) this.delete(type, existing, orphan);
    if (sameType(type, NAMESPACES)) return { status: 200, body: terminating(existing) };
    return {
      status: 200,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { ...statusDetails(type, ref.name), uid },
      },
    };
  }

  private delete(type: ResourceType, obj: KubeObject, orphan: boolean): void {
    this.store.delete(refOf(type, obj));
    if (sameType(type, DEPLOYMENTS)) this.controller.onDelete(obj, orphan);
    if (sameType(type, NAMESPACES)) this.deleteNamespaceContents(obj.metadata.name);
  }

  /** Namespace deletion finishes at once: every object in it goes, deployments first so their timers stop. */
  private deleteNamespaceContents(namespace: string): void {
    for (const dep of this.store.list(DEPLOYMENTS.group, DEPLOYMENTS.plural, namespace))
      this.delete(DEPLOYMENTS, dep, false);
    for (const ref of this.store.refsInNamespace(namespace)) {
      const obj = this.store.get(ref);
      this.store.delete(ref);
      if (obj && ref.plural === REPLICASETS.plural) this.pods.forget(obj.metadata.uid);
    }
  }

  private afterWrite(type: ResourceType, ref: ObjectRef): void {
    if (sameType(type, DEPLOYMENTS)) this.controller.onWrite(ref.namespace, ref.name);
  }

  // -- subresources and pods ---------------------------------------------------------------------------------

  private subresource(route: Route, request: ParsedRequest): Reply {
    if (!sameType(route.type, DEPLOYMENTS) || route.subresource !== 'scale' || route.name === undefined)
      throw routeNotFound();
    const ref = { group: 'apps', plural: 'deployments', namespace: route.namespace, name: route.name };
    if (request.method === 'GET')
      return { status: 200, body: toScale(this.mustGet(DEPLOYMENTS, ref) as DeploymentObject) };
    const dryRun = isDryRun(request.query);
    if (request.method === 'PUT') {
      this.requireBodyType(request);
      return this.writeScale(this.mustGet(DEPLOYMENTS, ref) as DeploymentObject, request.body, dryRun);
    }
    if (request.method === 'PATCH') {
      const patchType = this.patchType(DEPLOYMENTS, request);
      const existing = this.mustGet(DEPLOYMENTS, ref) as DeploymentObject;
      const scale = toScale(existing);
      const patched =
        patchType === APPLY_PATCH
          ? strategicMerge(scale, request.body)
          : applyPatchDocument(patchType, scale, request.body);
      return this.writeScale(existing, patched, dryRun);
    }
    throw methodNotAllowed();
  }

  private writeScale(existing: DeploymentObject, scale: unknown, dryRun: boolean): Reply {
    if (!isObject(scale)) throw badRequest('the body of the request must be a JSON object');
    const replicas = isObject(scale.spec) ? scale.spec.replicas : undefined;
    const name = existing.metadata.name;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw invalid(SCALE, name, [
        invalidValue('spec.replicas', replicas, 'must be greater than or equal to 0'),
      ]);
    }
    const meta = isObject(scale.metadata) ? scale.metadata : {};
    const candidate = clone(existing);
    candidate.spec.replicas = replicas;
    if (typeof meta.resourceVersion === 'string' && meta.resourceVersion !== '')
      candidate.metadata.resourceVersion = meta.resourceVersion;
    else delete candidate.metadata.resourceVersion;
    return {
      status: 200,
      body: toScale(this.update(DEPLOYMENTS, existing, candidate, dryRun) as DeploymentObject),
    };
  }

  private allPods(namespace: string): KubeObject[] {
    const replicaSets = this.store.list(
      REPLICASETS.group,
      REPLICASETS.plural,
      namespace || undefined,
    ) as ReplicaSetObject[];
    return replicaSets.flatMap((rs) => this.podsOf(rs));
  }

  private podsOf(rs: ReplicaSetObject): KubeObject[] {
    const namespace = rs.metadata.namespace ?? '';
    const owner = rs.metadata.ownerReferences?.find((o) => o.controller)?.name;
    const dep = owner === undefined ? undefined : this.getDeployment(namespace, owner);
    const isCurrent = dep !== undefined && revisionOf(dep) === revisionOf(rs);
    const health: PodHealth = {
      broken: isBrokenTemplate(rs.spec.template),
      trouble: isCurrent && owner !== undefined ? this.controller.troubleFor(namespace, owner) : {},
    };
    return this.pods.slotsFor(rs).map((slot, i) => synthesizePod(rs, slot, i < readyOf(rs), health));
  }

  private podRequest(route: Route, request: ParsedRequest): Reply {
    if (route.name === undefined) {
      if (request.method !== 'GET') throw methodNotAllowed();
      return { status: 200, body: this.list(PODS, route.namespace, request.query) };
    }
    const pod = this.allPods(route.namespace).find((p) => p.metadata.name === route.name);
    if (!pod) throw notFound(PODS, route.name);
    if (request.method === 'GET') return { status: 200, body: pod };
    if (request.method !== 'DELETE') throw methodNotAllowed();
    if (!isDryRun(request.query)) this.restartPod(pod);
    return {
      status: 200,
      body: {
        ...pod,
        metadata: { ...pod.metadata, deletionTimestamp: timestamp(), deletionGracePeriodSeconds: 30 },
      },
    };
  }

  /** The ReplicaSet replaces a deleted pod at once: same slot, new name and uid. */
  private restartPod(pod: KubeObject): void {
    const owner = pod.metadata.ownerReferences?.[0];
    const rs =
      owner &&
      this.store.get({
        group: 'apps',
        plural: 'replicasets',
        namespace: pod.metadata.namespace ?? '',
        name: owner.name,
      });
    if (!rs) return;
    const index = this.pods.slotsFor(rs as ReplicaSetObject).findIndex((s) => s.uid === pod.metadata.uid);
    if (index >= 0) this.pods.replace(rs.metadata.uid, index);
  }
}

function terminating(namespace: KubeObject): KubeObject {
  return {
    ...namespace,
    metadata: { ...namespace.metadata, deletionTimestamp: timestamp() },
    status: { phase: 'Terminating' },
  };
}

function toScale(dep: DeploymentObject): JsonObject {
  const { name, namespace, uid, resourceVersion, creationTimestamp } = dep.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
    spec: { replicas: dep.spec.replicas },
    status: { replicas: dep.status.replicas ?? 0, selector: selectorString(dep.spec.selector) },
  };
}

/** Starts the sandbox API server; it listens until close(). */
export async function startKubeApi(opts: KubeApiOptions = {}): Promise<KubeApi> {
  const api = new SandboxKubeApi(opts);
  await api.listen();
  return api;
}
