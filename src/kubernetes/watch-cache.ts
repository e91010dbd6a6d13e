import type {
  Informer,
  KubeConfig,
  KubernetesObject,
  ListPromise,
  ObjectCache,
  V1Deployment,
  V1ReplicaSet,
} from '@kubernetes/client-node';
import { AppsV1Api, makeInformer } from './client-node.js';

/** First wait before a failed list or watch is tried again; doubled per failure up to the max. */
const RETRY_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/** What one informer watches. */
export interface Watching {
  resource: string;
  namespace: string;
  context: string | undefined;
}

export interface WatchEvents {
  /** A list or watch failed; it is retried, and reads go to the API server until it is back in sync. */
  failed(what: Watching, err: unknown): void;
  /** Listed and watching: reads come from memory. */
  synced?(what: Watching): void;
}

/**
 * One informer (a LIST, then a WATCH from its resourceVersion, relisting on 410 Gone) that knows
 * whether it is in sync. client-node's ListWatch stops for good on any other error, so it is restarted
 * here with a backoff.
 */
class Watched<T extends KubernetesObject> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private inSync = false;
  private stopped = false;
  private failures = 0;
  private errorsSeen = 0;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    kubeconfig: KubeConfig,
    private readonly what: Watching,
    path: string,
    list: ListPromise<T>,
    private readonly events: WatchEvents,
  ) {
    this.informer = makeInformer(kubeconfig, path, list);
    this.informer.on('error', (err) => {
      this.errorsSeen++;
      this.inSync = false;
      this.events.failed(what, err);
      this.scheduleRetry();
    });
  }

  get ready(): boolean {
    return this.inSync && !this.stopped;
  }

  get cache(): ObjectCache<T> {
    return this.informer;
  }

  async start(): Promise<void> {
    const errorsBefore = this.errorsSeen;
    // Resolves once the list is in and the watch is open; a failure is reported through 'error'.
    await this.informer.start();
    if (this.stopped || this.errorsSeen !== errorsBefore) return;
    this.inSync = true;
    this.failures = 0;
    this.events.synced?.(this.what);
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retry) return;
    const wait = Math.min(RETRY_MS * 2 ** this.failures, RETRY_MAX_MS);
    this.failures++;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.start();
    }, wait);
    this.retry.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.informer.stop();
  }
}

/**
 * The Deployments and ReplicaSets of one namespace, kept current by watches, so that planning an
 * action reads memory instead of the API server. Reads may lag a change by the time a watch event
 * takes to arrive: writes stay guarded by resourceVersion, and a 409 plans again from the server.
 */
export class NamespaceWatch {
  private readonly deployments: Watched<V1Deployment>;
  private readonly replicaSets: Watched<V1ReplicaSet>;

  constructor(
    kubeconfig: KubeConfig,
    context: string | undefined,
    private readonly namespace: string,
    events: WatchEvents,
  ) {
    const apps = kubeconfig.makeApiClient(AppsV1Api);
    // One informer per resource of apps/v1 in this namespace, listed by the matching typed call.
    const watch = <T extends KubernetesObject>(resource: string, list: ListPromise<T>) =>
      new Watched(
        kubeconfig,
        { resource, namespace, context },
        `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/${resource}`,
        list,
        events,
      );
    this.deployments = watch('deployments', () => apps.listNamespacedDeployment({ namespace }));
    this.replicaSets = watch('replicasets', () => apps.listNamespacedReplicaSet({ namespace }));
  }

  start(): Promise<void> {
    return Promise.all([this.deployments.start(), this.replicaSets.start()]).then(() => undefined);
  }

  /** The deployment as last watched, or undefined when not in sync or not seen (ask the server). */
  deployment(name: string): V1Deployment | undefined {
    return this.deployments.ready ? this.deployments.cache.get(name, this.namespace) : undefined;
  }

  /** The ReplicaSets whose labels match `selector`, or undefined when not in sync. */
  replicaSetsMatching(selector: Record<string, string>): V1ReplicaSet[] | undefined {
    if (!this.replicaSets.ready) return undefined;
    const wanted = Object.entries(selector);
    return this.replicaSets.cache
      .list()
      .filter((rs) => wanted.every(([k, v]) => rs.metadata?.labels?.[k] === v));
  }

  async stop(): Promise<void> {
    await Promise.all([this.deployments.stop(), this.replicaSets.stop()]);
  }
}
