/** Watches: a collection's changes as a stream of events (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes). */
import {
  badRequest,
  expired,
  type FieldError,
  forbiddenField,
  invalid,
  invalidValue,
  notSupported,
} from './errors.js';
import { groupVersion, type ResourceType } from './resource-types.js';
import { queryFlag } from './routing.js';
import { matchesRequirements, type Requirement } from './selectors.js';
import { atVersion, type Change, type ObjectStore } from './store.js';
import type { JsonObject, KubeObject } from './types.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  type: WatchEventType;
  object: JsonObject;
}

/** Where a watch writes: one JSON event per line, then the end of the response. */
export interface WatchSink {
  send(event: WatchEvent): void;
  end(): void;
}

/** What a watch selects: one resource type, in one namespace or all of them, by labels and fields. */
export interface WatchScope {
  type: ResourceType;
  namespace: string | undefined;
  labels: Requirement[];
  fields: (o: KubeObject) => boolean;
}

export interface WatchOptions {
  /** Replay the changes after this resourceVersion; undefined starts with the current objects as ADDED. */
  from: number | undefined;
  bookmarks: boolean;
  timeoutMs: number;
}

/** kube-apiserver's --min-request-timeout default (https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/). */
const MIN_REQUEST_TIMEOUT_MS = 1_800_000;
/** How often a watch that allows them gets a BOOKMARK; the cacher's is a minute, tests pass less. */
export const BOOKMARK_INTERVAL_MS = 60_000;
const LIST_OPTIONS = { group: 'meta.k8s.io', plural: 'listoptions', kind: 'ListOptions' };
const NOT_OLDER_THAN = 'NotOlderThan';

/** Validates and reads a watch's query parameters; throws the Status the real server answers with. */
export function watchOptions(type: ResourceType, query: Record<string, string>): WatchOptions {
  const errors = watchOptionErrors(query);
  if (errors.length > 0) throw invalid(LIST_OPTIONS, '', errors);
  return {
    from: startVersion(type, query.resourceVersion),
    bookmarks: queryFlag(query, 'allowWatchBookmarks'),
    timeoutMs: timeoutOf(query.timeoutSeconds),
  };
}

/**
 * ListOptions validation for a watch, as a v1.31 server without the WatchList feature gate does it
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#streaming-lists): no sendInitialEvents,
 * and resourceVersionMatch only beside it.
 */
function watchOptionErrors(query: Record<string, string>): FieldError[] {
  const errors: FieldError[] = [];
  const match = query.resourceVersionMatch ?? '';
  const sendInitialEvents = query.sendInitialEvents !== undefined;
  if (sendInitialEvents) {
    if (match !== NOT_OLDER_THAN)
      errors.push(
        forbiddenField(
          'resourceVersionMatch',
          `sendInitialEvents requires setting resourceVersionMatch to ${NOT_OLDER_THAN}`,
        ),
      );
    errors.push(
      forbiddenField(
        'sendInitialEvents',
        'sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled',
      ),
    );
  }
  if (match !== '') {
    if (!sendInitialEvents)
      errors.push(
        forbiddenField(
          'resourceVersionMatch',
          'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
        ),
      );
    if (match !== NOT_OLDER_THAN) errors.push(notSupported('resourceVersionMatch', match, [NOT_OLDER_THAN]));
  }
  return errors;
}

/** Unset and "0" both start with the current state; any other value is where the changes resume (https://kubernetes.io/docs/reference/using-api/api-concepts/#semantics-for-watch). */
function startVersion(type: ResourceType, resourceVersion: string | undefined): number | undefined {
  if (resourceVersion === undefined || resourceVersion === '' || resourceVersion === '0') return undefined;
  if (!/^\d+$/.test(resourceVersion)) {
    // The storage layer's ParseResourceVersion error, answered as an Invalid on the resource.
    throw invalid({ ...type, kind: type.plural }, '', [
      invalidValue(
        'resourceVersion',
        resourceVersion,
        `strconv.ParseUint: parsing ${JSON.stringify(resourceVersion)}: invalid syntax`,
      ),
    ]);
  }
  return Number(resourceVersion);
}

/** timeoutSeconds, or when unset or 0 a random time between once and twice the minimum request timeout. */
function timeoutOf(timeoutSeconds: string | undefined): number {
  if (timeoutSeconds === undefined) return randomTimeout();
  if (!/^[+-]?\d+$/.test(timeoutSeconds))
    throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(timeoutSeconds)}: invalid syntax`);
  const seconds = Number(timeoutSeconds);
  return seconds === 0 ? randomTimeout() : Math.max(0, seconds * 1000);
}

const randomTimeout = () => MIN_REQUEST_TIMEOUT_MS * (1 + Math.random());

/** One open watch on a collection of the store; start() streams until the timeout, stop() or 410. */
export class CollectionWatch {
  constructor(
    private readonly store: ObjectStore,
    private readonly scope: WatchScope,
    private readonly options: WatchOptions,
  ) {}

  /** Sends the first events, then live ones; the returned function stops the watch without ending the sink. */
  start(sink: WatchSink, bookmarkMs = BOOKMARK_INTERVAL_MS): () => void {
    const first = this.firstEvents();
    if (first === undefined) {
      sink.send(this.expiredEvent());
      sink.end();
      return () => {};
    }
    for (const event of first) sink.send(event);
    // A resourceVersion the store has not reached yet is waited for (https://kubernetes.io/docs/reference/using-api/api-concepts/#unavailable-resource-versions).
    const after = this.options.from ?? 0;
    const unsubscribe = this.store.subscribe((change) => {
      const event = change.resourceVersion > after ? this.eventFor(change) : undefined;
      if (event) sink.send(event);
    });
    const timers = [setTimeout(() => sink.end(), this.options.timeoutMs)];
    // Bookmarks only when asked, and never behind where the watch started (https://kubernetes.io/docs/reference/using-api/api-concepts/#watch-bookmarks).
    const bookmark = () => {
      if (Number(this.store.resourceVersion) >= after) sink.send(this.bookmark());
    };
    if (this.options.bookmarks) timers.push(setInterval(bookmark, bookmarkMs));
    for (const timer of timers) timer.unref();
    return () => {
      unsubscribe();
      for (const timer of timers) clearTimeout(timer);
    };
  }

  /** Synthetic ADDED events for the current objects, or the retained changes since `from`; undefined once those are gone. */
  private firstEvents(): WatchEvent[] | undefined {
    const { from } = this.options;
    const { type, namespace } = this.scope;
    if (from === undefined) {
      // Get State and Start at Most Recent (https://kubernetes.io/docs/reference/using-api/api-concepts/#semantics-for-watch).
      return this.store
        .list(type.group, type.plural, namespace)
        .filter((o) => this.selects(o))
        .map((object) => ({ type: 'ADDED', object }));
    }
    // Start at Exact: no synthetic events, the changes after `from` (https://kubernetes.io/docs/reference/using-api/api-concepts/#semantics-for-watch).
    const changes = this.store.changesSince(from);
    return changes?.map((c) => this.eventFor(c)).filter((e): e is WatchEvent => e !== undefined);
  }

  /** The 410 of a watch: an ERROR event carrying an Expired Status (https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses). */
  private expiredEvent(): WatchEvent {
    const oldest = this.store.oldestWatchable;
    const status = expired(`too old resource version: ${this.options.from} (${oldest})`).toStatus();
    return { type: 'ERROR', object: status };
  }

  /** A BOOKMARK: only kind, apiVersion and the resourceVersion all changes up to have been sent (https://kubernetes.io/docs/reference/using-api/api-concepts/#watch-bookmarks). */
  private bookmark(): WatchEvent {
    const { type } = this.scope;
    return {
      type: 'BOOKMARK',
      object: {
        kind: type.kind,
        apiVersion: groupVersion(type),
        metadata: { resourceVersion: this.store.resourceVersion },
      },
    };
  }

  /**
   * The event a change is to this watch. With selectors, an object that starts matching is ADDED and
   * one that stops matching is DELETED (its previous state, at the change's resourceVersion), as the
   * watch cache reports them (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes).
   */
  private eventFor(change: Change): WatchEvent | undefined {
    const { type, namespace } = this.scope;
    const { ref } = change;
    if (ref.group !== type.group || ref.plural !== type.plural) return undefined;
    if (namespace !== undefined && ref.namespace !== namespace) return undefined;
    const was = change.previous !== undefined && this.selects(change.previous);
    const is = change.type !== 'DELETED' && this.selects(change.object);
    if (is) return { type: was ? 'MODIFIED' : 'ADDED', object: change.object };
    if (!was || change.previous === undefined) return undefined;
    const gone =
      change.type === 'DELETED' ? change.object : atVersion(change.previous, change.resourceVersion);
    return { type: 'DELETED', object: gone };
  }

  private selects(obj: KubeObject): boolean {
    return matchesRequirements(obj.metadata.labels, this.scope.labels) && this.scope.fields(obj);
  }
}
