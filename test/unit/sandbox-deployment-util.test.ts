import { describe, expect, it } from 'vitest';
import { fenceposts, isComplete } from '../../src/sandbox/deployment-util.js';
import type { DeploymentObject } from '../../src/sandbox/types.js';

// deploymentutil.ResolveFenceposts: maxSurge rounds up, maxUnavailable rounds down, and both cannot be 0.
// https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#max-surge
describe('deployment fenceposts', () => {
  function deployment(
    replicas: number,
    strategy: DeploymentObject['spec']['strategy'],
    status: DeploymentObject['status'] = {},
  ): DeploymentObject {
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'api', uid: 'u', creationTimestamp: '', generation: 2 },
      spec: {
        replicas,
        selector: {},
        template: { metadata: {}, spec: { containers: [] } },
        revisionHistoryLimit: 10,
        progressDeadlineSeconds: 600,
        strategy,
      },
      status,
    };
  }

  it('resolve percentages against the desired replicas', () => {
    const rolling = { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
    expect(fenceposts(deployment(10, rolling))).toEqual({ maxSurge: 3, maxUnavailable: 2 });
    expect(fenceposts(deployment(3, rolling))).toEqual({ maxSurge: 1, maxUnavailable: 0 });
  });

  it('take absolute numbers as they are, and never let both be 0', () => {
    expect(
      fenceposts(deployment(4, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: 1 } })),
    ).toEqual({ maxSurge: 2, maxUnavailable: 1 });
    expect(
      fenceposts(deployment(4, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } })),
    ).toEqual({ maxSurge: 0, maxUnavailable: 1 });
  });

  it('let Recreate take every pod down and surge none', () => {
    expect(fenceposts(deployment(5, { type: 'Recreate' }))).toEqual({ maxSurge: 0, maxUnavailable: 5 });
  });

  it('call a rollout complete only when every replica is updated and available and the spec observed', () => {
    const done = { replicas: 3, updatedReplicas: 3, availableReplicas: 3, observedGeneration: 2 };
    const rolling = { type: 'RollingUpdate' };
    expect(isComplete(deployment(3, rolling, done))).toBe(true);
    expect(isComplete(deployment(3, rolling, { ...done, observedGeneration: 1 }))).toBe(false);
    expect(isComplete(deployment(3, rolling, { ...done, replicas: 4 }))).toBe(false);
    expect(isComplete(deployment(3, rolling, { ...done, availableReplicas: 2 }))).toBe(false);
  });
});
