import type { DeploymentView } from './deployment.js';

export type RolloutState = 'progressing' | 'complete' | 'failed';

export interface RolloutStatus {
  state: RolloutState;
  /** One line, as `kubectl rollout status` would print it. */
  text: string;
}

/** The reason the deployment controller sets when a rollout missed spec.progressDeadlineSeconds. */
export const PROGRESS_DEADLINE_EXCEEDED = 'ProgressDeadlineExceeded';

/** The logic of `kubectl rollout status` for one observation of a deployment. */
export function rolloutStatus(d: DeploymentView): RolloutStatus {
  const s = d.status;
  if (d.generation > s.observedGeneration) {
    return { state: 'progressing', text: 'Waiting for the deployment spec update to be observed…' };
  }
  const progressing = s.conditions.find((c) => c.type === 'Progressing');
  if (progressing?.reason === PROGRESS_DEADLINE_EXCEEDED) {
    return { state: 'failed', text: `${d.name} exceeded its progress deadline` };
  }
  if (s.updatedReplicas < d.replicas) {
    return {
      state: 'progressing',
      text: `${s.updatedReplicas} of ${d.replicas} new replicas have been updated…`,
    };
  }
  if (s.replicas > s.updatedReplicas) {
    return {
      state: 'progressing',
      text: `${s.replicas - s.updatedReplicas} old replicas are pending termination…`,
    };
  }
  if (s.availableReplicas < s.updatedReplicas) {
    return {
      state: 'progressing',
      text: `${s.availableReplicas} of ${s.updatedReplicas} updated replicas are available…`,
    };
  }
  return { state: 'complete', text: `${d.name} successfully rolled out` };
}
