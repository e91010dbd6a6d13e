/**
 * A local HTTP server that speaks enough of the Kubernetes API, with a deployment controller, to stand in
 * for a cluster: the built-in "sandbox cluster" for users without one, and the fake behind integration tests.
 * Only node built-ins and `yaml`; all state lives in memory. This entry point is all importers need; the
 * modules beside it hold the parts (server, registry, store, patches, selectors, controller...).
 */
import { SandboxKubeApi } from './server.js';
import type { KubeApi, KubeApiOptions } from './types.js';

export { KubeStatusError } from './errors.js';
export type {
  Condition,
  Container,
  DeploymentObject,
  DeploymentSpec,
  DeploymentStatus,
  FaultRule,
  JsonObject,
  KubeApi,
  KubeApiOptions,
  KubeconfigContext,
  KubeObject,
  LabelSelector,
  ObjectMeta,
  OwnerReference,
  PodTemplate,
  PodTrouble,
  RecordedRequest,
  ReplicaSetObject,
  ReplicaSetStatus,
} from './types.js';

/** Starts the sandbox API server; it listens until close(). */
export async function startKubeApi(opts: KubeApiOptions = {}): Promise<KubeApi> {
  const api = new SandboxKubeApi(opts);
  await api.listen();
  return api;
}
