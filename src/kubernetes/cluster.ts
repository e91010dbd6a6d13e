import type { V1Deployment, V1Pod, V1ReplicaSet, V1Scale } from '@kubernetes/client-node';
import {
  type DeploymentView,
  DeploymentView as DeploymentViewSchema,
  type JsonObject,
  ReplicaSetView,
} from '../core/deployment.js';
import type {
  AccessReview,
  Cluster,
  ClusterIdentity,
  ClusterTarget,
  PatchType,
  PodView,
  ReadFrom,
  ResourceAccess,
  ScaleView,
  WriteOptions,
} from '../ports.js';
import {
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
} from './client-node.js';
import { clientsPerContext, kubeconfigFor } from './contexts.js';
import { kubeError } from './errors.js';
import { NamespaceWatch, type WatchEvents } from './watch-cache.js';

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  json: PatchStrategy.JsonPatch,
  strategic: PatchStrategy.StrategicMergePatch,
  merge: PatchStrategy.MergePatch,
};

/** Typed client models back to the JSON the API speaks (k8s field names are already camelCase). */
function toWire(value: unknown): JsonObject {
  return JSON.parse(JSON.stringify(value ?? {})) as JsonObject;
}

export function toDeploymentView(d: V1Deployment): DeploymentView {
  const status = d.status ?? {};
  return DeploymentViewSchema.parse({
    name: d.metadata?.name,
    namespace: d.metadata?.namespace,
    uid: d.metadata?.uid,
    resourceVersion: d.metadata?.resourceVersion,
    generation: d.metadata?.generation ?? 0,
    annotations: d.metadata?.annotations ?? {},
    paused: d.spec?.paused ?? false,
    replicas: d.spec?.replicas ?? 1,
    selector: d.spec?.selector?.matchLabels ?? {},
    template: toWire(d.spec?.template),
    status: {
      observedGeneration: status.observedGeneration ?? 0,
      replicas: status.replicas ?? 0,
      updatedReplicas: status.updatedReplicas ?? 0,
      readyReplicas: status.readyReplicas ?? 0,
      availableReplicas: status.availableReplicas ?? 0,
      unavailableReplicas: status.unavailableReplicas ?? 0,
      conditions: (status.conditions ?? []).map((c) => toWire(c)),
    },
    ...(d.spec?.progressDeadlineSeconds === undefined
      ? {}
      : { progressDeadlineSeconds: d.spec.progressDeadlineSeconds }),
  });
}

function toReplicaSetView(rs: V1ReplicaSet): ReplicaSetView {
  return ReplicaSetView.parse({
    name: rs.metadata?.name,
    annotations: rs.metadata?.annotations ?? {},
    ownerUids: (rs.metadata?.ownerReferences ?? []).filter((o) => o.controller).map((o) => o.uid),
    template: toWire(rs.spec?.template),
    replicas: rs.spec?.replicas ?? 0,
    ...(rs.metadata?.creationTimestamp
      ? { createdAt: new Date(rs.metadata.creationTimestamp).toISOString() }
      : {}),
  });
}

function toPodView(pod: V1Pod): PodView {
  const statuses = pod.status?.containerStatuses ?? [];
  const ready = (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const waiting = statuses.map((s) => s.state?.waiting?.reason ?? s.state?.terminated?.reason).find(Boolean);
  return {
    name: pod.metadata?.name ?? '?',
    phase: pod.status?.phase ?? 'Unknown',
    ready,
    restarts: statuses.reduce((n, s) => n + (s.restartCount ?? 0), 0),
    reason: waiting,
  };
}

function toScaleView(scale: V1Scale): ScaleView {
  return { replicas: scale.spec?.replicas ?? 0, resourceVersion: scale.metadata?.resourceVersion ?? '' };
}

function selectorOf(deployment: DeploymentView): string {
  return Object.entries(deployment.selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Kubernetes through @kubernetes/client-node: KUBECONFIG, the default kubeconfig, or in-cluster credentials. */
export class KubeCluster implements Cluster {
  private readonly clients: (
    context: string | undefined,
    identity?: ClusterIdentity,
  ) => {
    apps: AppsV1Api;
    core: CoreV1Api;
    authorization: AuthorizationV1Api;
    version: VersionApi;
  };

  constructor(
    readonly kubeconfig: KubeConfig,
    readonly sandbox = false,
  ) {
    this.clients = clientsPerContext(kubeconfig, (kc) => ({
      apps: kc.makeApiClient(AppsV1Api),
      core: kc.makeApiClient(CoreV1Api),
      authorization: kc.makeApiClient(AuthorizationV1Api),
      version: kc.makeApiClient(VersionApi),
    }));
  }

  /** The clients for a target: as the requester when the environment impersonates, else as opsbot. */
  private client(target: ClusterTarget) {
    return this.clients(target.context, target.identity);
  }

  static fromDefault(sandbox = false): KubeCluster {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return new KubeCluster(kc, sandbox);
  }

  /** Watch caches per (context, namespace), as opsbot. */
  private readonly watches = new Map<string, NamespaceWatch>();
  private static watchKey = (target: ClusterTarget) =>
    JSON.stringify([target.context ?? '', target.namespace]);

  /**
   * Starts a watch cache (an informer each for Deployments and ReplicaSets) per namespace of these
   * targets; resolves once each has listed, or failed and is retrying. Targets read as the requester
   * are skipped: their reads must be made as that person.
   */
  async watchNamespaces(targets: readonly ClusterTarget[], events: WatchEvents): Promise<void> {
    const started: Promise<void>[] = [];
    for (const target of targets) {
      if (target.identity) continue;
      const key = KubeCluster.watchKey(target);
      if (this.watches.has(key)) continue;
      const watch = new NamespaceWatch(
        kubeconfigFor(this.kubeconfig, target.context),
        target.context,
        target.namespace,
        events,
      );
      this.watches.set(key, watch);
      started.push(watch.start());
    }
    await Promise.all(started);
  }

  /** The target's watch cache, when reads may come from it. */
  private watched(target: ClusterTarget, from: ReadFrom): NamespaceWatch | undefined {
    if (from !== 'cache' || target.identity) return undefined;
    return this.watches.get(KubeCluster.watchKey(target));
  }

  /** Stops every watch, so the process can exit. */
  async close(): Promise<void> {
    const watches = [...this.watches.values()];
    this.watches.clear();
    await Promise.all(watches.map((w) => w.stop()));
  }

  private describe(target: ClusterTarget, name: string): string {
    return `deployment "${name}" in namespace ${target.namespace} (${target.environment})`;
  }

  async getDeployment(
    target: ClusterTarget,
    name: string,
    from: ReadFrom = 'server',
  ): Promise<DeploymentView> {
    const cached = this.watched(target, from)?.deployment(name);
    if (cached) return toDeploymentView(cached);
    try {
      const d = await this.client(target).apps.readNamespacedDeployment({
        name,
        namespace: target.namespace,
      });
      return toDeploymentView(d);
    } catch (err) {
      throw kubeError(err, this.describe(target, name));
    }
  }

  async listDeployments(target: ClusterTarget): Promise<string[]> {
    try {
      const list = await this.client(target).apps.listNamespacedDeployment({
        namespace: target.namespace,
      });
      return list.items.flatMap((d) => (d.metadata?.name ? [d.metadata.name] : [])).sort();
    } catch (err) {
      throw kubeError(err, `deployments in namespace ${target.namespace} (${target.environment})`);
    }
  }

  async listReplicaSets(
    target: ClusterTarget,
    deployment: DeploymentView,
    from: ReadFrom = 'server',
  ): Promise<ReplicaSetView[]> {
    const cached = this.watched(target, from)?.replicaSetsMatching(deployment.selector);
    if (cached) return cached.map(toReplicaSetView);
    const labelSelector = selectorOf(deployment);
    try {
      const list = await this.client(target).apps.listNamespacedReplicaSet({
        namespace: target.namespace,
        ...(labelSelector ? { labelSelector } : {}),
      });
      return list.items.map(toReplicaSetView);
    } catch (err) {
      throw kubeError(err, `replica sets of "${deployment.name}" in namespace ${target.namespace}`);
    }
  }

  async listPods(target: ClusterTarget, deployment: DeploymentView): Promise<PodView[]> {
    const labelSelector = selectorOf(deployment);
    try {
      const list = await this.client(target).core.listNamespacedPod({
        namespace: target.namespace,
        ...(labelSelector ? { labelSelector } : {}),
      });
      return list.items.map(toPodView);
    } catch (err) {
      throw kubeError(err, `pods of "${deployment.name}" in namespace ${target.namespace}`);
    }
  }

  async patchDeployment(
    target: ClusterTarget,
    name: string,
    patch: object,
    type: PatchType,
    options: WriteOptions = {},
  ): Promise<DeploymentView> {
    try {
      const d = await this.client(target).apps.patchNamespacedDeployment(
        {
          name,
          namespace: target.namespace,
          body: patch,
          fieldManager: 'opsbot',
          ...(options.dryRun ? { dryRun: 'All' } : {}),
        },
        setHeaderOptions('Content-Type', PATCH_CONTENT_TYPE[type]),
      );
      return toDeploymentView(d);
    } catch (err) {
      throw kubeError(err, this.describe(target, name));
    }
  }

  async getScale(target: ClusterTarget, name: string): Promise<ScaleView> {
    try {
      return toScaleView(
        await this.client(target).apps.readNamespacedDeploymentScale({
          name,
          namespace: target.namespace,
        }),
      );
    } catch (err) {
      throw kubeError(err, `the scale of ${this.describe(target, name)}`);
    }
  }

  async replaceScale(
    target: ClusterTarget,
    name: string,
    scale: ScaleView,
    options: WriteOptions = {},
  ): Promise<ScaleView> {
    try {
      const result = await this.client(target).apps.replaceNamespacedDeploymentScale({
        name,
        namespace: target.namespace,
        fieldManager: 'opsbot',
        ...(options.dryRun ? { dryRun: 'All' } : {}),
        body: {
          apiVersion: 'autoscaling/v1',
          kind: 'Scale',
          metadata: { name, namespace: target.namespace, resourceVersion: scale.resourceVersion },
          spec: { replicas: scale.replicas },
        },
      });
      return toScaleView(result);
    } catch (err) {
      throw kubeError(err, `the scale of ${this.describe(target, name)}`);
    }
  }

  async reviewAccess(
    target: ClusterTarget,
    identity: ClusterIdentity,
    access: ResourceAccess,
  ): Promise<AccessReview> {
    try {
      // Asked as opsbot, never impersonated: the review is about the requester, not by them.
      const review = await this.clients(target.context).authorization.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: identity.user,
            groups: [...identity.groups],
            resourceAttributes: {
              namespace: target.namespace,
              verb: access.verb,
              group: access.group,
              resource: access.resource,
              ...(access.subresource ? { subresource: access.subresource } : {}),
              ...(access.name ? { name: access.name } : {}),
            },
          },
        },
      });
      return {
        allowed: review.status?.allowed === true && review.status.denied !== true,
        reason: review.status?.reason ?? review.status?.evaluationError ?? '',
      };
    } catch (err) {
      throw kubeError(err, `a SubjectAccessReview in namespace ${target.namespace} (${target.environment})`);
    }
  }

  async ping(context?: string): Promise<void> {
    try {
      await this.clients(context).version.getCode();
    } catch (err) {
      throw kubeError(err, 'the API server version');
    }
  }
}
