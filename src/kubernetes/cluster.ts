import {
  AppsV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1ReplicaSet,
  VersionApi,
} from '@kubernetes/client-node';
import {
  type DeploymentView,
  DeploymentView as DeploymentViewSchema,
  type JsonObject,
  ReplicaSetView,
} from '../core/deployment.js';
import type { Cluster, ClusterTarget } from '../ports.js';
import { kubeError } from './errors.js';

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

/** Kubernetes through @kubernetes/client-node: KUBECONFIG, the default kubeconfig, or in-cluster credentials. */
export class KubeCluster implements Cluster {
  private readonly clients = new Map<string, { apps: AppsV1Api; version: VersionApi }>();

  constructor(
    private readonly kubeconfig: KubeConfig,
    readonly sandbox = false,
  ) {}

  static fromDefault(sandbox = false): KubeCluster {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return new KubeCluster(kc, sandbox);
  }

  contexts(): string[] {
    return this.kubeconfig.getContexts().map((c) => c.name);
  }

  private client(context: string | undefined) {
    const key = context ?? '';
    let client = this.clients.get(key);
    if (!client) {
      const kc = new KubeConfig();
      kc.loadFromString(this.kubeconfig.exportConfig());
      if (context) kc.setCurrentContext(context);
      client = { apps: kc.makeApiClient(AppsV1Api), version: kc.makeApiClient(VersionApi) };
      this.clients.set(key, client);
    }
    return client;
  }

  async getDeployment(target: ClusterTarget, name: string): Promise<DeploymentView> {
    const what = `deployment "${name}" in namespace ${target.namespace} (${target.environment})`;
    try {
      const d = await this.client(target.context).apps.readNamespacedDeployment({
        name,
        namespace: target.namespace,
      });
      return toDeploymentView(d);
    } catch (err) {
      throw kubeError(err, what);
    }
  }

  async listReplicaSets(target: ClusterTarget, deployment: DeploymentView): Promise<ReplicaSetView[]> {
    const labelSelector = Object.entries(deployment.selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    try {
      const list = await this.client(target.context).apps.listNamespacedReplicaSet({
        namespace: target.namespace,
        ...(labelSelector ? { labelSelector } : {}),
      });
      return list.items.map(toReplicaSetView);
    } catch (err) {
      throw kubeError(err, `replica sets of "${deployment.name}" in namespace ${target.namespace}`);
    }
  }

  async jsonPatchDeployment(target: ClusterTarget, name: string, patch: object[]): Promise<DeploymentView> {
    try {
      const d = await this.client(target.context).apps.patchNamespacedDeployment(
        { name, namespace: target.namespace, body: patch, fieldManager: 'opsbot' },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
      return toDeploymentView(d);
    } catch (err) {
      throw kubeError(err, `deployment "${name}" in namespace ${target.namespace} (${target.environment})`);
    }
  }

  async ping(): Promise<void> {
    try {
      await this.client(undefined).version.getCode();
    } catch (err) {
      throw kubeError(err, 'the API server version');
    }
  }
}
