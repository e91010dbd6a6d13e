/** RFC 6902 JSON patch, RFC 7386 merge patch and strategic merge patch (https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/). */
import { badRequest, patchNotApplicable } from './errors.js';
import type { JsonObject } from './types.js';
import { clone, deepEqual, isObject } from './values.js';

export const JSON_PATCH = 'application/json-patch+json';
export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_PATCH = 'application/strategic-merge-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';
export const PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH, STRATEGIC_PATCH];

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

export function applyJsonPatch(doc: unknown, patch: unknown): unknown {
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

export function applyMergePatch(target: unknown, patch: unknown): unknown {
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
export function strategicMerge(target: unknown, patch: unknown): unknown {
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

export function applyPatchDocument(patchType: string, current: unknown, patch: unknown): unknown {
  if (patchType === JSON_PATCH) return applyJsonPatch(current, patch);
  if (!isObject(patch)) throw badRequest('the patch must be a JSON object');
  return patchType === MERGE_PATCH ? applyMergePatch(current, patch) : strategicMerge(current, patch);
}
