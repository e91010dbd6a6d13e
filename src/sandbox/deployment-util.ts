/** Deployment arithmetic as deploymentutil does it: revisions, fenceposts, status, conditions (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/). */
import type {
  Condition,
  DeploymentObject,
  DeploymentStatus,
  KubeObject,
  PodTemplate,
  ReplicaSetObject,
  ReplicaSetStatus,
} from './types.js';
import { clone, deepEqual, timestamp } from './values.js';

export const REVISION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
export const POD_TEMPLATE_HASH = 'pod-template-hash';

export const revisionOf = (obj: KubeObject) => Number(obj.metadata.annotations?.[REVISION] ?? 0) || 0;
export const readyOf = (rs: ReplicaSetObject) => rs.status.readyReplicas ?? 0;
export const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** Drops null fields: decoded into the API server's Go structs, null and absent are the same value. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, withoutNulls(v)]),
  );
}

function comparable(template: PodTemplate): unknown {
  const copy = clone(template);
  if (copy.metadata.labels) delete copy.metadata.labels[POD_TEMPLATE_HASH];
  return withoutNulls(copy);
}

/**
 * The controller's EqualIgnoreHash: kubectl rollout undo sends the template back with
 * `creationTimestamp: null` (Go's zero time), which must still match the ReplicaSet it came from.
 */
export const sameTemplate = (rsTemplate: PodTemplate, template: PodTemplate) =>
  deepEqual(comparable(rsTemplate), comparable(template));

function resolveFencepost(value: number | string | undefined, desired: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const percent = Number.parseInt(value ?? '25%', 10);
  const exact = (desired * percent) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** maxSurge/maxUnavailable in pods, as deploymentutil.ResolveFenceposts computes them. */
export function fenceposts(dep: DeploymentObject): { maxSurge: number; maxUnavailable: number } {
  const desired = dep.spec.replicas;
  if (dep.spec.strategy.type === 'Recreate') return { maxSurge: 0, maxUnavailable: desired };
  const rolling = dep.spec.strategy.rollingUpdate ?? {};
  const maxSurge = resolveFencepost(rolling.maxSurge, desired, true);
  const maxUnavailable = resolveFencepost(rolling.maxUnavailable, desired, false);
  return { maxSurge, maxUnavailable: maxSurge === 0 && maxUnavailable === 0 ? 1 : maxUnavailable };
}

function omitZeroes(status: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(status).filter(([, v]) => v !== 0));
}

export function replicaSetStatus(rs: ReplicaSetObject): ReplicaSetStatus {
  const replicas = rs.spec.replicas;
  const ready = Math.min(readyOf(rs), replicas);
  return {
    replicas,
    ...omitZeroes({ fullyLabeledReplicas: replicas, readyReplicas: ready, availableReplicas: ready }),
    observedGeneration: rs.metadata.generation ?? 1,
  };
}

export function calculateStatus(
  dep: DeploymentObject,
  newRs: ReplicaSetObject | undefined,
  all: ReplicaSetObject[],
): DeploymentStatus {
  const replicas = sum(all.map((rs) => rs.spec.replicas));
  const available = sum(all.map(readyOf));
  return {
    ...(dep.status.observedGeneration === undefined
      ? {}
      : { observedGeneration: dep.status.observedGeneration }),
    ...omitZeroes({
      replicas,
      updatedReplicas: newRs?.spec.replicas ?? 0,
      readyReplicas: available,
      availableReplicas: available,
      unavailableReplicas: Math.max(0, replicas - available),
    }),
    ...(dep.status.conditions ? { conditions: dep.status.conditions } : {}),
  };
}

export function progressingReason(status: DeploymentStatus): string | undefined {
  return status.conditions?.find((c) => c.type === 'Progressing')?.reason;
}

export function setCondition(
  status: DeploymentStatus,
  next: Omit<Condition, 'lastTransitionTime' | 'lastUpdateTime'>,
  refresh = false,
): void {
  const conditions = status.conditions ?? [];
  const current = conditions.find((c) => c.type === next.type);
  if (current && current.status === next.status && current.reason === next.reason && !refresh) return;
  const now = timestamp();
  const condition: Condition = {
    ...next,
    lastUpdateTime: now,
    lastTransitionTime: current && current.status === next.status ? current.lastTransitionTime : now,
  };
  const order = ['Available', 'Progressing', 'ReplicaFailure'];
  status.conditions = [...conditions.filter((c) => c.type !== next.type), condition].sort(
    (a, b) => order.indexOf(a.type) - order.indexOf(b.type),
  );
}

/** DeploymentComplete: every replica updated and available, and the latest spec observed. */
export function isComplete(dep: DeploymentObject): boolean {
  const s = dep.status;
  const desired = dep.spec.replicas;
  return (
    (s.updatedReplicas ?? 0) === desired &&
    (s.replicas ?? 0) === desired &&
    (s.availableReplicas ?? 0) === desired &&
    (s.observedGeneration ?? 0) >= (dep.metadata.generation ?? 1)
  );
}

/** DeploymentProgressing: more updated/ready/available pods or fewer old pods than before. */
export function madeProgress(before: DeploymentStatus, after: DeploymentStatus): boolean {
  const oldPods = (s: DeploymentStatus) => (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (
    (after.updatedReplicas ?? 0) > (before.updatedReplicas ?? 0) ||
    oldPods(after) < oldPods(before) ||
    (after.readyReplicas ?? 0) > (before.readyReplicas ?? 0) ||
    (after.availableReplicas ?? 0) > (before.availableReplicas ?? 0)
  );
}
