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

/** What a write did, as a watch reports it (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes). */
export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/**
 * One write or delete: the object as stored at its new resourceVersion (for DELETED, its last state
 * at the deletion's resourceVersion) and the object before it, for watches that filter by selector.
 */
export interface Change {
  type: ChangeType;
  ref: ObjectRef;
  object: KubeObject;
  previous: KubeObject | undefined;
  resourceVersion: number;
}

export type ChangeListener = (change: Change) => void;

/** Changes kept for watches that resume from a resourceVersion (https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses). */
export const HISTORY_LIMIT = 1000;

/**
 * In-memory etcd: a global resourceVersion counter bumped on every write and delete, each of which
 * is one Change, kept in a bounded history and handed to every listener.
 */
export class ObjectStore {
  private readonly entries = new Map<string, { ref: ObjectRef; obj: KubeObject }>();
  private readonly history: Change[] = [];
  private readonly listeners = new Set<ChangeListener>();
  private counter = 0;
  /** The newest resourceVersion whose change has left the history: watches from before it are gone. */
  private compacted = 0;

  constructor(private readonly historyLimit = HISTORY_LIMIT) {}

  get resourceVersion(): string {
    return String(this.counter);
  }

  /** The oldest resourceVersion a watch can still start from (https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses). */
  get oldestWatchable(): number {
    return this.compacted;
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
    const key = refKey(ref);
    const previous = this.entries.get(key)?.obj;
    // Stored objects are replaced, never mutated, so the history can share them.
    const stored = clone(obj);
    this.entries.set(key, { ref: { ...ref }, obj: stored });
    this.record({
      type: previous ? 'MODIFIED' : 'ADDED',
      ref: { ...ref },
      object: stored,
      previous,
      resourceVersion: this.counter,
    });
    return clone(obj);
  }

  /** Removes the object; its DELETED change carries its last state at the deletion's resourceVersion. */
  delete(ref: ObjectRef): boolean {
    const key = refKey(ref);
    const found = this.entries.get(key);
    if (!found) return false;
    this.entries.delete(key);
    this.counter++;
    this.record({
      type: 'DELETED',
      ref: found.ref,
      object: atVersion(found.obj, this.counter),
      previous: found.obj,
      resourceVersion: this.counter,
    });
    return true;
  }

  /** The changes after a resourceVersion, oldest first; undefined when some have left the history. */
  changesSince(resourceVersion: number): Change[] | undefined {
    if (resourceVersion < this.compacted) return undefined;
    return this.history.filter((c) => c.resourceVersion > resourceVersion);
  }

  /** Calls the listener with every change from now on; the returned function stops that. */
  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Changes kept from open watches while they are held (see holdNotifications). */
  private held: Change[] | undefined;

  /**
   * Open watches hear of no change, as behind a slow API server or a stalled connection, until the
   * returned function is called; then they hear of every held change, in order. For tests.
   */
  holdNotifications(): () => void {
    this.held ??= [];
    return () => {
      const queued = this.held ?? [];
      this.held = undefined;
      for (const change of queued) this.notify(change);
    };
  }

  private record(change: Change): void {
    this.history.push(change);
    while (this.history.length > this.historyLimit) {
      this.compacted = this.history.shift()?.resourceVersion ?? this.compacted;
    }
    if (this.held) this.held.push(change);
    else this.notify(change);
  }

  private notify(change: Change): void {
    for (const listener of [...this.listeners]) listener(change);
  }
}

/** A copy of a stored object at another resourceVersion, as DELETED events report it. */
export function atVersion(obj: KubeObject, resourceVersion: number): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(resourceVersion) } };
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
