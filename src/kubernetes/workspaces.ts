import type { KubeConfig, KubernetesObject, V1Namespace } from '@kubernetes/client-node';
import type { NamespaceView, Workspaces } from '../ports.js';
import {
  ApiException,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from './client-node.js';
import { clientsPerContext } from './contexts.js';
import { kubeError } from './errors.js';

const FIELD_MANAGER = 'opsbot';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function toView(ns: V1Namespace): NamespaceView {
  return {
    name: ns.metadata?.name ?? '',
    labels: { ...(ns.metadata?.labels ?? {}) },
    annotations: { ...(ns.metadata?.annotations ?? {}) },
    terminating: Boolean(ns.metadata?.deletionTimestamp) || ns.status?.phase === 'Terminating',
  };
}

const isNotFound = (err: unknown) => err instanceof ApiException && err.code === 404;
const isConflict = (err: unknown) => err instanceof ApiException && err.code === 409;

/** Preview namespaces through CoreV1Api, and their objects through server-side apply on the generic object API. */
export class KubeWorkspaces implements Workspaces {
  private readonly client: (context: string | undefined) => { core: CoreV1Api; objects: KubernetesObjectApi };

  constructor(kubeconfig: KubeConfig) {
    this.client = clientsPerContext(kubeconfig, (kc) => ({
      core: kc.makeApiClient(CoreV1Api),
      objects: KubernetesObjectApi.makeApiClient(kc),
    }));
  }

  async listNamespaces(context: string | undefined, labelSelector: string): Promise<NamespaceView[]> {
    try {
      const list = await this.client(context).core.listNamespace({ labelSelector });
      return list.items.map(toView);
    } catch (err) {
      throw kubeError(err, `namespaces matching ${labelSelector}`);
    }
  }

  async getNamespace(context: string | undefined, name: string): Promise<NamespaceView | undefined> {
    try {
      return toView(await this.client(context).core.readNamespace({ name }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw kubeError(err, `namespace ${name}`);
    }
  }

  async upsertNamespace(
    context: string | undefined,
    name: string,
    meta: { labels: Record<string, string>; annotations: Record<string, string> },
  ): Promise<{ created: boolean }> {
    const { core } = this.client(context);
    try {
      await core.createNamespace({ body: { metadata: { name, ...meta } }, fieldManager: FIELD_MANAGER });
      return { created: true };
    } catch (err) {
      if (!isConflict(err)) throw kubeError(err, `namespace ${name}`);
    }
    await this.patchNamespace(context, name, meta);
    return { created: false };
  }

  async patchNamespace(
    context: string | undefined,
    name: string,
    meta: { labels?: Record<string, string | null>; annotations?: Record<string, string | null> },
  ): Promise<void> {
    try {
      await this.client(context).core.patchNamespace(
        { name, body: { metadata: meta }, fieldManager: FIELD_MANAGER },
        mergePatch,
      );
    } catch (err) {
      throw kubeError(err, `namespace ${name}`);
    }
  }

  async deleteNamespace(context: string | undefined, name: string): Promise<boolean> {
    try {
      await this.client(context).core.deleteNamespace({ name });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw kubeError(err, `namespace ${name}`);
    }
  }

  async apply(context: string | undefined, objects: readonly Record<string, unknown>[]): Promise<void> {
    const api = this.client(context).objects;
    for (const object of objects) {
      const spec = object as KubernetesObject;
      try {
        await api.patch(spec, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
      } catch (err) {
        throw kubeError(
          err,
          `${spec.kind} ${spec.metadata?.name ?? '?'} in ${spec.metadata?.namespace ?? '?'}`,
        );
      }
    }
  }
}
