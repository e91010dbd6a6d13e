/** The object store: in-memory etcd with a global resourceVersion (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions). */
import { randomUUID } from 'node:crypto';
import type { GroupResource } from './errors.js';
import type { JsonObject, KubeObject } from './types.js';
import { clone, deepEqual, timestamp } from './values.js';

export interface ObjectRef {
  group: string;
  plural: string;
  namespace: string;
  name: string;
}

const refKey = (r: ObjectRef) => `${r.group}|${r.plural}|${r.namespace}|${r.name}`;
export const refTo = (t: GroupResource, namespace: string, name: string): ObjectRef => ({
  group: t.group,
  plural: t.plural,
  namespace,
  name,
});
export const refOf = (t: GroupResource, obj: KubeObject): ObjectRef =>
  refTo(t, obj.metadata.namespace ?? '', obj.metadata.name);

/** In-memory etcd: a global resourceVersion counter bumped on every write and delete. */
export class ObjectStore {
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

export function stampCreated(obj: KubeObject): void {
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
export function stampUpdated(existing: KubeObject, candidate: KubeObject): void {
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
