import { z } from 'zod';
import { Person } from './command-job.js';
import {
  currentRevision,
  type DeploymentView,
  imagesOf,
  JsonObject,
  ownedReplicaSets,
  type ReplicaSetView,
  revisionOf,
  templatesEqual,
} from './deployment.js';

/**
 * What an executed action saved so that it can be reversed: the state it replaced, and the state
 * it left (to tell, at undo time, whether someone changed the target since).
 */
const RollbackReversal = z.object({
  kind: z.literal('rollback'),
  environment: z.string(),
  deployment: z.string(),
  /** The revision that was live before the rollback; kubectl keeps its number in the history. */
  revision: z.number(),
  /** The pod template and annotations that were live before, without pod-template-hash. */
  template: JsonObject,
  annotations: z.record(z.string(), z.string()),
  images: z.array(z.string()),
  /** The template the rollback left in place. */
  after: z.object({ template: JsonObject, images: z.array(z.string()) }),
});

const ScaleReversal = z.object({
  kind: z.literal('scale'),
  environment: z.string(),
  deployment: z.string(),
  from: z.number(),
  to: z.number(),
});

/** pause or resume: `paused` is the state the action set. */
const PauseReversal = z.object({
  kind: z.literal('pause'),
  environment: z.string(),
  deployment: z.string(),
  paused: z.boolean(),
});

const EnvOpenReversal = z.object({
  kind: z.literal('env.open'),
  environment: z.string(),
  name: z.string(),
});

/** An action with no earlier state to return to (a restart, a deleted preview): why, and what comes nearest. */
const Irreversible = z.object({ kind: z.literal('irreversible'), why: z.string(), nearest: z.string() });

export const StepReversal = z.discriminatedUnion('kind', [
  RollbackReversal,
  ScaleReversal,
  PauseReversal,
  EnvOpenReversal,
  Irreversible,
]);
export type StepReversal = z.infer<typeof StepReversal>;

/** A runbook (or an undo of several changes): its steps' reversals in the order they ran. */
const StepsReversal = z.object({
  kind: z.literal('steps'),
  steps: z.array(z.object({ label: z.string(), reversal: StepReversal })),
});

export const Reversal = z.discriminatedUnion('kind', [
  RollbackReversal,
  ScaleReversal,
  PauseReversal,
  EnvOpenReversal,
  Irreversible,
  StepsReversal,
]);
export type Reversal = z.infer<typeof Reversal>;

/** A record id as people type it: lowercase letters and digits. */
export const RecordId = z
  .string()
  .regex(/^[a-z2-7]{8,16}$/, 'is not a record id (8 or more letters and digits, as shown under an outcome)');

/** What opsbot keeps per executed action, found by its record id at undo time. */
export const LedgerEntry = z.object({
  recordId: RecordId,
  /** The job that ran the action: a record id belongs to exactly one job. */
  jobId: z.string(),
  /** The id and path of the audit record in the audit repository. */
  auditId: z.string(),
  auditPath: z.string(),
  action: z.string(),
  environment: z.string(),
  target: z.string().optional(),
  time: z.iso.datetime(),
  requester: Person,
  reversal: Reversal,
  /** The deployments it changed, each `<env>/<name>`: where `/ops history` lists it. */
  touches: z.array(z.string()),
  /** For an undo: the record it reversed. */
  undoes: z.string().optional(),
});
export type LedgerEntry = z.infer<typeof LedgerEntry>;

/** The single-target reversals of an action, flattened: a runbook's steps, or the action itself. */
export function stepsOf(reversal: Reversal): { label: string; reversal: StepReversal }[] {
  return reversal.kind === 'steps' ? reversal.steps : [{ label: '', reversal }];
}

/** Why an action cannot be undone, or undefined when at least one of its changes can be. */
export function irreversibleReason(reversal: Reversal): { why: string; nearest: string } | undefined {
  const steps = stepsOf(reversal);
  if (steps.some((s) => s.reversal.kind !== 'irreversible')) return undefined;
  const first = steps[0]?.reversal;
  if (first?.kind === 'irreversible') return { why: first.why, nearest: first.nearest };
  return { why: 'it changed nothing that can be reversed', nearest: 'none' };
}

/** Every `<env>/<deployment>` an action touched, for the history index. */
export function touchesOf(reversal: Reversal): string[] {
  const keys = stepsOf(reversal).flatMap(({ reversal: r }) =>
    'deployment' in r ? [`${r.environment}/${r.deployment}`] : [],
  );
  return [...new Set(keys)];
}

/** A deployment as the undo planner sees it now. */
export interface LiveDeployment {
  deployment: DeploymentView;
  replicaSets: readonly ReplicaSetView[];
}

/** One command that reverses one change: the verb and what to type after it. */
export const UndoStep = z.object({
  command: z.enum(['rollback', 'scale', 'pause', 'resume', 'env close']),
  words: z.array(z.string()),
  flags: z.record(z.string(), z.string()),
  environment: z.string(),
  /** `<env>/<deployment>` when it acts on a deployment: the lock it takes. */
  lockKey: z.string().optional(),
  label: z.string(),
});
export type UndoStep = z.infer<typeof UndoStep>;

/** Something that changed on a target after the recorded action. */
export const Change = z.object({ target: z.string(), what: z.string() });
export type Change = z.infer<typeof Change>;

/** Kept with the undo job once made, so a retry goes on with it. */
export const UndoPlan = z.object({
  steps: z.array(UndoStep),
  /** Changes since the record: the undo is refused unless forced. */
  changes: z.array(Change),
  /** Steps that cannot be undone and are left as they are (a runbook's restart). */
  skipped: z.array(z.string()),
});
export type UndoPlan = z.infer<typeof UndoPlan>;

/** A later opsbot action on the same target, to say who changed it and when. */
export interface LaterAction {
  recordId: string;
  action: string;
  time: string;
  requester: Person;
  touches: readonly string[];
}

function who(person: Person): string {
  return person.name ? `@${person.name}` : person.id;
}

function clockTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** Who changed a target after the record: an opsbot action we know of, or someone outside opsbot. */
function changedBy(key: string, later: readonly LaterAction[], fallback: string): string {
  const action = later.find((a) => a.touches.includes(key));
  if (action)
    return `by ${who(action.requester)} with ${action.action} (record ${action.recordId}) at ${clockTime(action.time)}`;
  return fallback;
}

/**
 * Plans the reversal of a recorded action against the live state, newest change first. Each change
 * is compared with what the action left; anything different is reported as a change (the undo is
 * refused unless forced). A rollback is undone to the revision holding the exact template that was
 * live before, as `kubectl rollout undo --to-revision` would do.
 */
export function planUndo(
  entry: Pick<LedgerEntry, 'reversal' | 'time'>,
  live: ReadonlyMap<string, LiveDeployment>,
  later: readonly LaterAction[],
): UndoPlan {
  const plan: UndoPlan = { steps: [], changes: [], skipped: [] };
  const seen = new Set<string>();
  const outsideSince = `outside opsbot, after ${clockTime(entry.time)}`;
  for (const { label, reversal } of [...stepsOf(entry.reversal)].reverse()) {
    if (reversal.kind === 'irreversible') {
      plan.skipped.push(`${label || 'the action'}: ${reversal.why}`);
      continue;
    }
    if (reversal.kind === 'env.open') {
      plan.steps.push({
        command: 'env close',
        words: [reversal.name],
        flags: {},
        environment: reversal.environment,
        label: `Close preview ${reversal.name}`,
      });
      continue;
    }
    const key = `${reversal.environment}/${reversal.deployment}`;
    const state = live.get(key);
    if (!state) throw new Error(`no live state for ${key}`);
    const { deployment, replicaSets } = state;
    const flags = { env: reversal.environment };
    // Only the last change a run made to a target is compared with the live object: earlier ones were replaced by it.
    const guard = !seen.has(key);
    seen.add(key);
    if (reversal.kind === 'rollback') {
      if (guard && !templatesEqual(deployment.template, reversal.after.template)) {
        const revision = currentRevision(deployment, replicaSets);
        const rs = ownedReplicaSets(deployment, replicaSets).find((r) => revisionOf(r) === revision);
        // A new template makes a new ReplicaSet: its creation time is when the change happened.
        const outside = rs?.createdAt ? `outside opsbot at ${clockTime(rs.createdAt)}` : outsideSince;
        plan.changes.push({
          target: key,
          what: `${reversal.deployment} now runs revision ${revision ?? '?'} (${imagesOf(deployment.template).join(', ') || 'no images'}), not the ${reversal.after.images.join(', ')} the record left; changed ${changedBy(key, later, outside)}`,
        });
      }
      const target = ownedReplicaSets(deployment, replicaSets)
        .filter((r) => templatesEqual(r.template, reversal.template))
        .map((r) => revisionOf(r))
        .filter((r): r is number => r !== undefined)
        .sort((a, b) => b - a)[0];
      if (target === undefined) {
        plan.skipped.push(
          `${reversal.deployment}: revision ${reversal.revision} (${reversal.images.join(', ')}) is no longer in its history`,
        );
        continue;
      }
      if (templatesEqual(deployment.template, reversal.template)) {
        plan.skipped.push(`${reversal.deployment} already runs revision ${target} again; nothing to undo`);
        continue;
      }
      plan.steps.push({
        command: 'rollback',
        words: [reversal.deployment],
        flags: { ...flags, to: String(target) },
        environment: reversal.environment,
        lockKey: key,
        label: `Roll ${reversal.deployment} in ${reversal.environment} back to revision ${target} (${reversal.images.join(', ')}), the one live before`,
      });
    } else if (reversal.kind === 'scale') {
      if (guard && deployment.replicas !== reversal.to) {
        plan.changes.push({
          target: key,
          what: `${reversal.deployment} runs ${deployment.replicas} replicas, not the ${reversal.to} the record left; changed ${changedBy(key, later, outsideSince)}`,
        });
      }
      plan.steps.push({
        command: 'scale',
        words: [reversal.deployment, String(reversal.from)],
        flags,
        environment: reversal.environment,
        lockKey: key,
        label: `Scale ${reversal.deployment} in ${reversal.environment} back to ${reversal.from} replicas`,
      });
    } else {
      if (guard && deployment.paused !== reversal.paused) {
        plan.changes.push({
          target: key,
          what: `${reversal.deployment} is ${deployment.paused ? 'paused' : 'not paused'}, not as the record left it; changed ${changedBy(key, later, outsideSince)}`,
        });
      }
      plan.steps.push({
        command: reversal.paused ? 'resume' : 'pause',
        words: [reversal.deployment],
        flags,
        environment: reversal.environment,
        lockKey: key,
        label: `${reversal.paused ? 'Resume' : 'Pause'} rollouts of ${reversal.deployment} in ${reversal.environment}`,
      });
    }
  }
  return plan;
}
