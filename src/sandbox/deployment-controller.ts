/** The deployment controller: ReplicaSets, RollingUpdate/Recreate steps, progress deadlines (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/). */
import {
  calculateStatus,
  DESIRED_REPLICAS,
  fenceposts,
  isComplete,
  MAX_REPLICAS,
  madeProgress,
  POD_TEMPLATE_HASH,
  progressingReason,
  REVISION,
  REVISION_HISTORY,
  readyOf,
  replicaSetStatus,
  revisionOf,
  sameTemplate,
  setCondition,
  sum,
} from './deployment-util.js';
import type { PodRegistry } from './pods.js';
import { isBrokenTemplate } from './pods.js';
import { DEPLOYMENTS, REPLICASETS } from './resource-types.js';
import { type ObjectRef, type ObjectStore, refOf, refTo, stampCreated } from './store.js';
import type { DeploymentObject, KubeObject, PodTrouble, ReplicaSetObject } from './types.js';
import { clone, deepEqual, fnv32a, safeEncode, stableStringify } from './values.js';

/** Deployment annotations the controller does not copy onto ReplicaSets (it owns them, or they are huge). */
const ANNOTATIONS_NOT_COPIED = new Set([
  REVISION,
  REVISION_HISTORY,
  DESIRED_REPLICAS,
  MAX_REPLICAS,
  'kubectl.kubernetes.io/last-applied-configuration',
  'deprecated.deployment.rollback.to',
]);

interface Rollout {
  stepTimer: NodeJS.Timeout | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
  /** When the rollout last made progress, in ms: the start of the progress deadline. */
  lastProgressAt: number;
  trouble: PodTrouble;
}

type NewReplicaSetEvent = 'created' | 'found' | 'none';

/**
 * The deployment controller: creates/adopts ReplicaSets, moves pods one step at a time (RollingUpdate with
 * maxSurge/maxUnavailable, or Recreate), maintains status and conditions, and enforces progress deadlines.
 */
export class DeploymentController {
  private readonly rollouts = new Map<string, Rollout>();

  constructor(
    private readonly store: ObjectStore,
    private readonly pods: PodRegistry,
    private readonly stepMs: number,
    private readonly deadlineScale: number,
  ) {}

  onWrite(namespace: string, name: string): void {
    const dep = this.deployment(namespace, name);
    if (!dep) return;
    const rollout = this.rollout(namespace, name);
    if (dep.status.observedGeneration !== dep.metadata.generation) rollout.lastProgressAt = Date.now();
    if (this.stepMs === 0) this.runToCompletion(namespace, name);
    else this.startStepping(namespace, name);
    this.armDeadline(namespace, name);
  }

  onDelete(dep: KubeObject, orphan: boolean): void {
    const key = `${dep.metadata.namespace}/${dep.metadata.name}`;
    this.stopTimers(key);
    this.rollouts.delete(key);
    if (orphan) return;
    for (const rs of this.owned(dep)) this.deleteReplicaSet(rs);
  }

  setTrouble(namespace: string, name: string, trouble: PodTrouble): void {
    this.rollout(namespace, name).trouble = { ...trouble };
    this.pass(namespace, name);
    this.onWrite(namespace, name);
  }

  troubleFor(namespace: string, name: string): PodTrouble {
    return this.rollouts.get(`${namespace}/${name}`)?.trouble ?? {};
  }

  /** Drives one rollout as far as it can go, now; a stuck one stays stuck. */
  settle(namespace: string, name: string): void {
    this.stopStepping(`${namespace}/${name}`);
    this.runToCompletion(namespace, name);
    this.armDeadline(namespace, name);
  }

  settleAll(): void {
    for (const dep of this.store.list(DEPLOYMENTS.group, DEPLOYMENTS.plural))
      this.settle(dep.metadata.namespace ?? '', dep.metadata.name);
  }

  close(): void {
    for (const key of this.rollouts.keys()) this.stopTimers(key);
  }

  private rollout(namespace: string, name: string): Rollout {
    const key = `${namespace}/${name}`;
    let rollout = this.rollouts.get(key);
    if (!rollout) {
      rollout = { stepTimer: undefined, deadlineTimer: undefined, lastProgressAt: Date.now(), trouble: {} };
      this.rollouts.set(key, rollout);
    }
    return rollout;
  }

  private deployment(namespace: string, name: string): DeploymentObject | undefined {
    return this.store.get(refTo(DEPLOYMENTS, namespace, name)) as DeploymentObject | undefined;
  }

  private owned(dep: KubeObject): ReplicaSetObject[] {
    const all = this.store.list(
      REPLICASETS.group,
      REPLICASETS.plural,
      dep.metadata.namespace,
    ) as ReplicaSetObject[];
    return all.filter((rs) =>
      rs.metadata.ownerReferences?.some((o) => o.controller && o.uid === dep.metadata.uid),
    );
  }

  // -- timers --------------------------------------------------------------------------------------------

  private startStepping(namespace: string, name: string): void {
    const rollout = this.rollout(namespace, name);
    if (rollout.stepTimer) return;
    rollout.stepTimer = setInterval(() => this.tick(namespace, name), this.stepMs);
    rollout.stepTimer.unref();
  }

  private tick(namespace: string, name: string): void {
    const changed = this.pass(namespace, name);
    const dep = this.deployment(namespace, name);
    // Stop once done or stuck; the next write (or trouble change) starts stepping again.
    if (!dep || !changed || dep.spec.paused || isComplete(dep)) this.stopStepping(`${namespace}/${name}`);
    if (changed) this.armDeadline(namespace, name);
  }

  private stopStepping(key: string): void {
    const rollout = this.rollouts.get(key);
    if (rollout?.stepTimer) clearInterval(rollout.stepTimer);
    if (rollout) rollout.stepTimer = undefined;
  }

  private stopTimers(key: string): void {
    this.stopStepping(key);
    const rollout = this.rollouts.get(key);
    if (rollout?.deadlineTimer) clearTimeout(rollout.deadlineTimer);
    if (rollout) rollout.deadlineTimer = undefined;
  }

  private runToCompletion(namespace: string, name: string): void {
    for (let i = 0; i < 10_000 && this.pass(namespace, name); i++);
  }

  private armDeadline(namespace: string, name: string): void {
    const rollout = this.rollout(namespace, name);
    if (rollout.deadlineTimer) clearTimeout(rollout.deadlineTimer);
    rollout.deadlineTimer = undefined;
    const dep = this.deployment(namespace, name);
    if (!dep || !this.deadlineApplies(dep)) return;
    const deadlineMs = dep.spec.progressDeadlineSeconds * 1000 * this.deadlineScale;
    const wait = Math.max(0, rollout.lastProgressAt + deadlineMs - Date.now());
    rollout.deadlineTimer = setTimeout(() => this.checkDeadline(namespace, name), wait);
    rollout.deadlineTimer.unref();
  }

  private deadlineApplies(dep: DeploymentObject): boolean {
    const reason = progressingReason(dep.status);
    return (
      !dep.spec.paused &&
      !isComplete(dep) &&
      reason !== 'NewReplicaSetAvailable' &&
      reason !== 'ProgressDeadlineExceeded'
    );
  }

  private checkDeadline(namespace: string, name: string): void {
    const dep = this.deployment(namespace, name);
    const rollout = this.rollouts.get(`${namespace}/${name}`);
    if (!dep || !rollout || !this.deadlineApplies(dep)) return;
    const deadlineMs = dep.spec.progressDeadlineSeconds * 1000 * this.deadlineScale;
    if (Date.now() - rollout.lastProgressAt < deadlineMs) {
      this.armDeadline(namespace, name);
      return;
    }
    const next = clone(dep);
    const rsName =
      this.owned(dep).find((rs) => sameTemplate(rs.spec.template, dep.spec.template))?.metadata.name ?? name;
    setCondition(next.status, {
      type: 'Progressing',
      status: 'False',
      reason: 'ProgressDeadlineExceeded',
      message: `ReplicaSet "${rsName}" has timed out progressing.`,
    });
    this.saveDeployment(dep, next);
  }

  // -- one controller pass ---------------------------------------------------------------------------------

  /** One sync of the deployment: observe, find or create the new ReplicaSet, move pods one step. */
  private pass(namespace: string, name: string): boolean {
    const dep = this.deployment(namespace, name);
    if (!dep) return false;
    const next = clone(dep);
    next.status.observedGeneration = dep.metadata.generation ?? 1;
    if (dep.spec.paused) return this.syncPaused(dep, next);
    if (progressingReason(dep.status) === 'DeploymentPaused') {
      setCondition(next.status, {
        type: 'Progressing',
        status: 'Unknown',
        reason: 'DeploymentResumed',
        message: 'Deployment is resumed',
      });
    }
    const { rs: newRs, event } = this.ensureNewReplicaSet(next);
    const olds = this.owned(dep).filter((rs) => rs.metadata.uid !== newRs.metadata.uid);
    const moved = this.advance(next, newRs, olds);
    this.cleanupHistory(next, olds);
    next.status = calculateStatus(next, newRs, [newRs, ...olds]);
    this.updateConditions(dep, next, newRs, event);
    const saved = this.saveDeployment(dep, next);
    return event !== 'none' || moved || saved;
  }

  private syncPaused(dep: DeploymentObject, next: DeploymentObject): boolean {
    const owned = this.owned(dep);
    const current = owned.find((rs) => sameTemplate(rs.spec.template, dep.spec.template));
    next.status = calculateStatus(next, current, owned);
    setCondition(next.status, {
      type: 'Progressing',
      status: 'Unknown',
      reason: 'DeploymentPaused',
      message: 'Deployment is paused',
    });
    this.setAvailability(next);
    return this.saveDeployment(dep, next);
  }

  private updateConditions(
    dep: DeploymentObject,
    next: DeploymentObject,
    newRs: ReplicaSetObject,
    event: NewReplicaSetEvent,
  ): void {
    const rollout = this.rollout(dep.metadata.namespace ?? '', dep.metadata.name);
    const rsName = newRs.metadata.name;
    this.setAvailability(next);
    if (event === 'created') {
      setCondition(next.status, {
        type: 'Progressing',
        status: 'True',
        reason: 'NewReplicaSetCreated',
        message: `Created new replica set "${rsName}"`,
      });
    } else if (event === 'found' && progressingReason(next.status) === undefined) {
      setCondition(next.status, {
        type: 'Progressing',
        status: 'True',
        reason: 'FoundNewReplicaSet',
        message: `Found new replica set "${rsName}"`,
      });
    }
    if (event !== 'none') rollout.lastProgressAt = Date.now();
    if (isComplete(next)) {
      setCondition(next.status, {
        type: 'Progressing',
        status: 'True',
        reason: 'NewReplicaSetAvailable',
        message: `ReplicaSet "${rsName}" has successfully progressed.`,
      });
    } else if (madeProgress(dep.status, next.status)) {
      setCondition(
        next.status,
        {
          type: 'Progressing',
          status: 'True',
          reason: 'ReplicaSetUpdated',
          message: `ReplicaSet "${rsName}" is progressing.`,
        },
        true,
      );
      rollout.lastProgressAt = Date.now();
    }
  }

  private setAvailability(dep: DeploymentObject): void {
    const minAvailable = dep.spec.replicas - fenceposts(dep).maxUnavailable;
    if ((dep.status.availableReplicas ?? 0) >= minAvailable) {
      setCondition(dep.status, {
        type: 'Available',
        status: 'True',
        reason: 'MinimumReplicasAvailable',
        message: 'Deployment has minimum availability.',
      });
    } else {
      setCondition(dep.status, {
        type: 'Available',
        status: 'False',
        reason: 'MinimumReplicasUnavailable',
        message: 'Deployment does not have minimum availability.',
      });
    }
  }

  private saveDeployment(dep: DeploymentObject, next: DeploymentObject): boolean {
    if (deepEqual(dep, next)) return false;
    this.store.commit(refOf(DEPLOYMENTS, dep), next);
    return true;
  }

  // -- ReplicaSets -------------------------------------------------------------------------------------

  /** Finds the ReplicaSet matching the template (a rollback reuses an old one) or creates it; sets revisions. */
  private ensureNewReplicaSet(dep: DeploymentObject): { rs: ReplicaSetObject; event: NewReplicaSetEvent } {
    const owned = this.owned(dep);
    const match = owned.find((rs) => sameTemplate(rs.spec.template, dep.spec.template));
    const otherMax = Math.max(0, ...owned.filter((rs) => rs !== match).map(revisionOf));
    if (!match) {
      const rs = this.createReplicaSet(dep, otherMax + 1);
      return { rs, event: 'created' };
    }
    const current = revisionOf(match);
    const revision = current > otherMax ? current : otherMax + 1;
    const history = match.metadata.annotations?.[REVISION_HISTORY];
    const nextHistory = revision === current ? history : [history, String(current)].filter(Boolean).join(',');
    const annotations = this.replicaSetAnnotations(dep, revision, nextHistory);
    if (!deepEqual(match.metadata.annotations, annotations)) {
      match.metadata.annotations = annotations;
      this.saveReplicaSet(match);
    }
    this.setDeploymentRevision(dep, revision);
    return { rs: match, event: revision === current ? 'none' : 'found' };
  }

  private createReplicaSet(dep: DeploymentObject, revision: number): ReplicaSetObject {
    const namespace = dep.metadata.namespace ?? '';
    const template = dep.spec.template;
    let hash = '';
    for (
      let collisions = 0;
      hash === '' || this.store.get(this.rsRef(namespace, `${dep.metadata.name}-${hash}`));
      collisions++
    ) {
      hash = safeEncode(
        String(fnv32a(stableStringify(template) + (collisions > 0 ? String(collisions) : ''))),
      );
    }
    const labels = { ...(template.metadata.labels ?? {}), [POD_TEMPLATE_HASH]: hash };
    const rs: ReplicaSetObject = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${dep.metadata.name}-${hash}`,
        namespace,
        uid: '',
        creationTimestamp: '',
        labels,
        annotations: this.replicaSetAnnotations(dep, revision, undefined),
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name: dep.metadata.name,
            uid: dep.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        replicas: 0,
        selector: {
          ...clone(dep.spec.selector),
          matchLabels: { ...(dep.spec.selector.matchLabels ?? {}), [POD_TEMPLATE_HASH]: hash },
        },
        template: { metadata: { ...clone(template.metadata), labels }, spec: clone(template.spec) },
      },
      status: { replicas: 0 },
    };
    stampCreated(rs);
    rs.status = replicaSetStatus(rs);
    Object.assign(rs, this.store.commit(this.rsRef(namespace, rs.metadata.name), rs));
    this.setDeploymentRevision(dep, revision);
    return rs;
  }

  private replicaSetAnnotations(
    dep: DeploymentObject,
    revision: number,
    history: string | undefined,
  ): Record<string, string> {
    const copied = Object.entries(dep.metadata.annotations ?? {}).filter(
      ([key]) => !ANNOTATIONS_NOT_COPIED.has(key),
    );
    return {
      ...Object.fromEntries(copied),
      [DESIRED_REPLICAS]: String(dep.spec.replicas),
      [MAX_REPLICAS]: String(dep.spec.replicas + fenceposts(dep).maxSurge),
      [REVISION]: String(revision),
      ...(history ? { [REVISION_HISTORY]: history } : {}),
    };
  }

  private setDeploymentRevision(dep: DeploymentObject, revision: number): void {
    dep.metadata.annotations = { ...(dep.metadata.annotations ?? {}), [REVISION]: String(revision) };
  }

  private rsRef(namespace: string, name: string): ObjectRef {
    return refTo(REPLICASETS, namespace, name);
  }

  private saveReplicaSet(rs: ReplicaSetObject): void {
    const stored = this.store.get(this.rsRef(rs.metadata.namespace ?? '', rs.metadata.name));
    if (stored && rs.spec.replicas !== (stored as ReplicaSetObject).spec.replicas) {
      rs.metadata.generation = (stored.metadata.generation ?? 1) + 1;
    }
    rs.status = replicaSetStatus(rs);
    this.pods.trim(rs.metadata.uid, rs.spec.replicas);
    Object.assign(rs, this.store.commit(this.rsRef(rs.metadata.namespace ?? '', rs.metadata.name), rs));
  }

  private scaleReplicaSet(rs: ReplicaSetObject, delta: number): void {
    rs.spec.replicas += delta;
    rs.status.readyReplicas = Math.min(readyOf(rs), rs.spec.replicas);
    this.saveReplicaSet(rs);
  }

  private deleteReplicaSet(rs: ReplicaSetObject): void {
    this.store.delete(this.rsRef(rs.metadata.namespace ?? '', rs.metadata.name));
    this.pods.forget(rs.metadata.uid);
  }

  private cleanupHistory(dep: DeploymentObject, olds: ReplicaSetObject[]): void {
    const idle = olds.filter((rs) => rs.spec.replicas === 0).sort((a, b) => revisionOf(a) - revisionOf(b));
    for (const rs of idle.slice(0, Math.max(0, idle.length - dep.spec.revisionHistoryLimit))) {
      this.deleteReplicaSet(rs);
      olds.splice(olds.indexOf(rs), 1);
    }
  }

  // -- moving pods -----------------------------------------------------------------------------------------

  /** One step: pods created last step become ready, then at most one old pod goes and one new pod comes. */
  private advance(dep: DeploymentObject, newRs: ReplicaSetObject, olds: ReplicaSetObject[]): boolean {
    let moved = this.promote(dep, newRs);
    const withPods = olds.filter((rs) => rs.spec.replicas > 0).sort((a, b) => revisionOf(a) - revisionOf(b));
    if (dep.spec.strategy.type === 'Recreate') return this.stepRecreate(dep, newRs, withPods) || moved;
    moved = this.scaleDownOld(dep, newRs, withPods) || moved;
    return this.scaleNew(dep, newRs, [newRs, ...olds]) || moved;
  }

  private promote(dep: DeploymentObject, newRs: ReplicaSetObject): boolean {
    const trouble = this.troubleFor(dep.metadata.namespace ?? '', dep.metadata.name);
    const target = isBrokenTemplate(newRs.spec.template)
      ? 0
      : Math.max(0, newRs.spec.replicas - (trouble.notReady ?? 0));
    if (readyOf(newRs) === target) return false;
    newRs.status.readyReplicas = target;
    this.saveReplicaSet(newRs);
    return true;
  }

  private scaleDownOld(dep: DeploymentObject, newRs: ReplicaSetObject, olds: ReplicaSetObject[]): boolean {
    const oldest = olds[0];
    if (!oldest) return false;
    const total = newRs.spec.replicas + sum(olds.map((rs) => rs.spec.replicas));
    const minAvailable = dep.spec.replicas - fenceposts(dep).maxUnavailable;
    const newUnavailable = newRs.spec.replicas - readyOf(newRs);
    if (total - minAvailable - newUnavailable <= 0) return false;
    this.scaleReplicaSet(oldest, -1);
    return true;
  }

  private scaleNew(dep: DeploymentObject, newRs: ReplicaSetObject, all: ReplicaSetObject[]): boolean {
    const desired = dep.spec.replicas;
    const total = sum(all.map((rs) => rs.spec.replicas));
    if (newRs.spec.replicas > desired && total === newRs.spec.replicas) {
      this.scaleReplicaSet(newRs, -1);
      return true;
    }
    if (newRs.spec.replicas >= desired || total >= desired + fenceposts(dep).maxSurge) return false;
    this.scaleReplicaSet(newRs, 1);
    return true;
  }

  private stepRecreate(dep: DeploymentObject, newRs: ReplicaSetObject, olds: ReplicaSetObject[]): boolean {
    const oldest = olds[0];
    if (oldest) {
      this.scaleReplicaSet(oldest, -1);
      return true;
    }
    const delta = Math.sign(dep.spec.replicas - newRs.spec.replicas);
    if (delta === 0) return false;
    this.scaleReplicaSet(newRs, delta);
    return true;
  }
}
