import { z } from 'zod';
import {
  currentRevision,
  type DeploymentView,
  imagesOf,
  type JsonObject,
  ownedReplicaSets,
  REVISION_ANNOTATION,
  type ReplicaSetView,
  revisionOf,
  specVersionOf,
  templatesEqual,
  withoutHashLabel,
} from './deployment.js';
import { StateError } from './errors.js';

/** Deployment annotations kubectl keeps from the deployment instead of copying from the ReplicaSet. */
const ANNOTATIONS_TO_SKIP = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION_ANNOTATION,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

export const RevisionSide = z.object({ revision: z.number().optional(), images: z.array(z.string()) });
export type RevisionSide = z.infer<typeof RevisionSide>;

export type RollbackPlan =
  | { kind: 'noop'; deployment: string; revision: number; before: RevisionSide; after: RevisionSide }
  | {
      kind: 'rollback';
      deployment: string;
      /** The resourceVersion the plan was made from; the patch is refused with 409 if it moved. */
      resourceVersion: string;
      /** The spec it was made from (specVersionOf): a retry plans again if only the status moved. */
      specVersion: string;
      toRevision: number;
      before: RevisionSide;
      after: RevisionSide;
      template: JsonObject;
      annotations: Record<string, string>;
      /** What was live before, kept so the rollback can itself be undone. */
      live: { template: JsonObject; annotations: Record<string, string> };
    };

/** Picks the ReplicaSet to go back to: `toRevision`, or the second-newest revision, as kubectl does. */
export function findRevision(
  deployment: DeploymentView,
  replicaSets: readonly ReplicaSetView[],
  toRevision: number | undefined,
): ReplicaSetView {
  const candidates = ownedReplicaSets(deployment, replicaSets)
    .map((rs) => ({ rs, revision: revisionOf(rs) }))
    .filter((c): c is { rs: ReplicaSetView; revision: number } => c.revision !== undefined)
    .sort((a, b) => b.revision - a.revision);

  if (toRevision !== undefined) {
    const found = candidates.find((c) => c.revision === toRevision);
    if (!found) {
      const known =
        candidates
          .map((c) => c.revision)
          .reverse()
          .join(', ') || 'none';
      throw new StateError(
        'not_found',
        `Revision ${toRevision} of ${deployment.name} is not in its history (revisions: ${known}).`,
      );
    }
    return found.rs;
  }
  const previous = candidates[1];
  if (!previous) {
    throw new StateError('not_found', `${deployment.name} has no earlier revision to roll back to.`);
  }
  return previous.rs;
}

/** What `kubectl rollout undo` would do, without doing it. */
export function planRollback(
  deployment: DeploymentView,
  replicaSets: readonly ReplicaSetView[],
  toRevision?: number,
): RollbackPlan {
  if (deployment.paused) {
    throw new StateError(
      'paused',
      `${deployment.name} is paused; resume it (kubectl rollout resume deployment/${deployment.name}) before rolling back.`,
    );
  }
  const target = findRevision(deployment, replicaSets, toRevision);
  const before: RevisionSide = {
    revision: currentRevision(deployment, replicaSets),
    images: imagesOf(deployment.template),
  };
  const after: RevisionSide = { revision: revisionOf(target), images: imagesOf(target.template) };

  if (templatesEqual(target.template, deployment.template)) {
    return { kind: 'noop', deployment: deployment.name, revision: after.revision ?? 0, before, after };
  }

  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(deployment.annotations)) {
    if (ANNOTATIONS_TO_SKIP.has(key)) annotations[key] = value;
  }
  for (const [key, value] of Object.entries(target.annotations)) {
    if (!ANNOTATIONS_TO_SKIP.has(key)) annotations[key] = value;
  }
  return {
    kind: 'rollback',
    deployment: deployment.name,
    resourceVersion: deployment.resourceVersion,
    specVersion: specVersionOf(deployment),
    toRevision: after.revision ?? 0,
    before,
    after,
    template: withoutHashLabel(target.template),
    annotations,
    live: { template: withoutHashLabel(deployment.template), annotations: { ...deployment.annotations } },
  };
}

/**
 * The JSON patch kubectl sends for an undo (replace template and annotations), plus the
 * resourceVersion so the API server answers 409 if the deployment moved since we planned.
 */
export function rollbackPatch(
  plan: Pick<RollbackIntent, 'resourceVersion' | 'template' | 'annotations'>,
): object[] {
  return [
    { op: 'replace', path: '/metadata/resourceVersion', value: plan.resourceVersion },
    { op: 'replace', path: '/spec/template', value: plan.template },
    // 'add' also works when the deployment has no annotations yet; it replaces them when it has.
    { op: 'add', path: '/metadata/annotations', value: plan.annotations },
  ];
}

/**
 * What a rollback means to write, saved before the PATCH: the template (without pod-template-hash)
 * and annotations, and the resourceVersion it was planned from. A retry compares the live
 * deployment with this instead of planning again: the undo itself renumbers the revision it restores.
 */
export const RollbackIntent = z.object({
  deployment: z.string(),
  resourceVersion: z.string(),
  /** Absent in intents saved by older versions: their retry keeps the resourceVersion check. */
  specVersion: z.string().optional(),
  toRevision: z.number(),
  before: RevisionSide,
  after: RevisionSide,
  template: z.record(z.string(), z.unknown()),
  annotations: z.record(z.string(), z.string()),
  /** The template and annotations live before; absent in intents saved by older versions. */
  live: z
    .object({ template: z.record(z.string(), z.unknown()), annotations: z.record(z.string(), z.string()) })
    .optional(),
});
export type RollbackIntent = z.infer<typeof RollbackIntent>;

export function intentOf(plan: Extract<RollbackPlan, { kind: 'rollback' }>): RollbackIntent {
  return {
    deployment: plan.deployment,
    resourceVersion: plan.resourceVersion,
    specVersion: plan.specVersion,
    toRevision: plan.toRevision,
    before: {
      images: plan.before.images,
      ...(plan.before.revision === undefined ? {} : { revision: plan.before.revision }),
    },
    after: {
      images: plan.after.images,
      ...(plan.after.revision === undefined ? {} : { revision: plan.after.revision }),
    },
    template: plan.template,
    annotations: plan.annotations,
    live: plan.live,
  };
}

/**
 * Whether the intended rollback took effect: the deployment runs the intended template now, or
 * the controller already gave that template a revision newer than the one we rolled back from
 * (it did so because our PATCH landed, even if someone has changed the deployment since).
 */
export function rollbackApplied(
  deployment: DeploymentView,
  replicaSets: readonly ReplicaSetView[],
  intent: Pick<RollbackIntent, 'template' | 'before'>,
): boolean {
  if (templatesEqual(deployment.template, intent.template)) return true;
  const from = intent.before.revision;
  if (from === undefined) return false;
  return ownedReplicaSets(deployment, replicaSets).some(
    (rs) => templatesEqual(rs.template, intent.template) && (revisionOf(rs) ?? 0) > from,
  );
}
