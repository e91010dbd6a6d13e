import { z } from 'zod';

/**
 * The parts of Deployments and ReplicaSets that opsbot reasons about, validated from API responses.
 * Templates stay as plain JSON: they are copied back verbatim, as kubectl does.
 */
export const JsonObject = z.record(z.string(), z.unknown());
export type JsonObject = z.infer<typeof JsonObject>;

const StringMap = z
  .record(z.string(), z.string())
  .nullish()
  .transform((v) => v ?? {});

export const PodTemplate = z.looseObject({
  metadata: z.looseObject({ labels: StringMap, annotations: StringMap }).nullish(),
  spec: z
    .looseObject({
      containers: z.array(z.looseObject({ name: z.string(), image: z.string().nullish() })).default([]),
    })
    .nullish(),
});
export type PodTemplate = z.infer<typeof PodTemplate>;

export const Condition = z.looseObject({
  type: z.string(),
  status: z.string(),
  reason: z.string().nullish(),
  message: z.string().nullish(),
});
export type Condition = z.infer<typeof Condition>;

export const DeploymentView = z.object({
  name: z.string(),
  namespace: z.string(),
  uid: z.string(),
  resourceVersion: z.string(),
  generation: z.number(),
  annotations: z.record(z.string(), z.string()),
  paused: z.boolean(),
  replicas: z.number(),
  /** spec.selector.matchLabels: how its ReplicaSets are found. */
  selector: z.record(z.string(), z.string()),
  /** Raw template JSON, exactly as the API returned it. */
  template: JsonObject,
  status: z.object({
    observedGeneration: z.number(),
    replicas: z.number(),
    updatedReplicas: z.number(),
    readyReplicas: z.number(),
    availableReplicas: z.number(),
    unavailableReplicas: z.number(),
    conditions: z.array(Condition),
  }),
  progressDeadlineSeconds: z.number().optional(),
});
export type DeploymentView = z.infer<typeof DeploymentView>;

export const ReplicaSetView = z.object({
  name: z.string(),
  annotations: z.record(z.string(), z.string()),
  ownerUids: z.array(z.string()),
  template: JsonObject,
  replicas: z.number(),
  createdAt: z.string().optional(),
});
export type ReplicaSetView = z.infer<typeof ReplicaSetView>;

/**
 * The desired state a plan was made from: which object (uid) at which generation of its spec.
 * Status moves all day (a pod fails, then recovers) and bumps resourceVersion without changing any
 * plan; a change to the spec, or the deployment deleted and created again, does change it.
 */
export function specVersionOf(d: Pick<DeploymentView, 'uid' | 'generation'>): string {
  return `${d.generation}/${d.uid}`;
}

/** The state a plan was made from, as a job carries it. */
export interface PlannedAt {
  specVersion?: string | undefined;
  /** Only in jobs and checkpoints saved before specVersion existed: the stricter check they were made with. */
  resourceVersion?: string | undefined;
}

/**
 * How the live deployment's spec moved away from the one a plan was made from (e.g. "generation 7 →
 * 8"), or undefined when it did not; status changes do not count.
 */
export function specMoved(
  planned: PlannedAt,
  live: Pick<DeploymentView, 'uid' | 'generation' | 'resourceVersion'>,
): string | undefined {
  if (planned.specVersion !== undefined) {
    const slash = planned.specVersion.indexOf('/');
    const generation = planned.specVersion.slice(0, slash);
    if (planned.specVersion.slice(slash + 1) !== live.uid) return 'deleted and created again';
    return generation === String(live.generation)
      ? undefined
      : `generation ${generation} → ${live.generation}`;
  }
  if (planned.resourceVersion !== undefined && planned.resourceVersion !== live.resourceVersion)
    return `resourceVersion ${planned.resourceVersion} → ${live.resourceVersion}`;
  return undefined;
}

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

/** The revision a ReplicaSet carries, or undefined when it has none or it is not a number. */
export function revisionOf(rs: Pick<ReplicaSetView, 'annotations'>): number | undefined {
  const raw = rs.annotations[REVISION_ANNOTATION];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

export function imagesOf(template: JsonObject): string[] {
  const parsed = PodTemplate.safeParse(template);
  if (!parsed.success) return [];
  return (parsed.data.spec?.containers ?? []).map((c) => `${c.name}=${c.image ?? '?'}`);
}

/** Order-insensitive deep equality of JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]))
    );
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).filter((k) => (a as JsonObject)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as JsonObject)[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => jsonEqual((a as JsonObject)[k], (b as JsonObject)[k]));
  }
  return false;
}

/** A deep copy of a pod template without the pod-template-hash label the controller adds to ReplicaSets. */
export function withoutHashLabel(template: JsonObject): JsonObject {
  const copy = structuredClone(template);
  const metadata = copy.metadata as { labels?: Record<string, string> } | undefined;
  if (metadata?.labels) {
    delete metadata.labels[POD_TEMPLATE_HASH_LABEL];
  }
  return copy;
}

/** Equality that ignores the pod-template-hash label, as kubectl's equalIgnoreHash does. */
export function templatesEqual(a: JsonObject, b: JsonObject): boolean {
  return jsonEqual(withoutHashLabel(a), withoutHashLabel(b));
}

/** ReplicaSets the deployment controls: owned by its uid. */
export function ownedReplicaSets(
  deployment: Pick<DeploymentView, 'uid'>,
  replicaSets: readonly ReplicaSetView[],
) {
  return replicaSets.filter((rs) => rs.ownerUids.includes(deployment.uid));
}

/** The revision the deployment is at: the ReplicaSet whose template matches the deployment's. */
export function currentRevision(
  deployment: DeploymentView,
  replicaSets: readonly ReplicaSetView[],
): number | undefined {
  const matching = ownedReplicaSets(deployment, replicaSets).find((rs) =>
    templatesEqual(rs.template, deployment.template),
  );
  const fromRs = matching ? revisionOf(matching) : undefined;
  if (fromRs !== undefined) return fromRs;
  const fromDeployment = deployment.annotations[REVISION_ANNOTATION];
  return fromDeployment && /^\d+$/.test(fromDeployment) ? Number(fromDeployment) : undefined;
}
