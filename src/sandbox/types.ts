/** Public types: the KubeApi handle tests and local mode drive, and object shapes as in https://kubernetes.io/docs/reference/kubernetes-api/. */
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
  /**
   * Enforce RBAC, and name who the bearer token authenticates as. Without it the server authorizes
   * everything, like `--authorization-mode=AlwaysAllow`: SubjectAccessReviews are allowed and any
   * impersonation is accepted, so tests that create no RBAC objects are unaffected.
   */
  rbac?: { user: string; groups?: string[] };
  /**
   * Serve HTTPS with this PEM key and certificate. kubectl sends a bearer token only over TLS, so a
   * kubectl run against the sandbox needs it; the kubeconfig then skips verification of the certificate.
   */
  tls?: { key: string; cert: string };
  /** How often a watch with allowWatchBookmarks=true gets a BOOKMARK event; default 60000. */
  bookmarkIntervalMs?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  body: unknown;
  at: number;
  /** The Impersonate-User and Impersonate-Group headers, when sent. */
  impersonate?: { user: string | undefined; groups: string[] };
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
  /** TCP connections accepted so far: shows whether clients keep theirs alive. */
  readonly connections: number;
  /** Watches listening for changes now: one whose client has gone must not stay. */
  readonly openWatches: number;
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
  /**
   * Runs `write` (another client's change, e.g. a controller's status update) just before the next
   * request that matches is served: the race between a client's read and its write, on demand.
   */
  beforeNext(match: Pick<FaultRule, 'method' | 'path'>, write: () => void): void;
  /**
   * Open watches hear of no change until the returned function is called, as behind a stalled
   * connection; then of every held change, in order. Reads and writes are served as usual.
   */
  holdWatchEvents(): () => void;
  /**
   * Stores a Role, RoleBinding, ClusterRole or ClusterRoleBinding (rbac.authorization.k8s.io/v1), or
   * replaces the one of that name (state helper, no request recorded).
   */
  applyRbac(manifest: object): KubeObject;
  /** Deletes an RBAC object; answers whether it existed. */
  deleteRbac(kind: string, name: string, namespace?: string): boolean;
  close(): Promise<void>;
}
