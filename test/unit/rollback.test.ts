import { describe, expect, it } from 'vitest';
import type { DeploymentView, ReplicaSetView } from '../../src/core/deployment.js';
import { StateError } from '../../src/core/errors.js';
import { planRollback, rollbackPatch } from '../../src/core/rollback.js';

const template = (image: string, hash?: string) => ({
  metadata: {
    labels: { app: 'api', ...(hash ? { 'pod-template-hash': hash } : {}) },
    annotations: { team: 'core' },
  },
  spec: { containers: [{ name: 'api', image }] },
});

const rs = (revision: number, image: string, extra: Partial<ReplicaSetView> = {}): ReplicaSetView => ({
  name: `api-${revision}`,
  annotations: {
    'deployment.kubernetes.io/revision': String(revision),
    'kubernetes.io/change-cause': `deploy ${image}`,
  },
  ownerUids: ['uid-api'],
  template: template(image, `h${revision}`),
  replicas: 0,
  ...extra,
});

const deployment = (image: string, extra: Partial<DeploymentView> = {}): DeploymentView => ({
  name: 'api',
  namespace: 'apps',
  uid: 'uid-api',
  resourceVersion: '42',
  generation: 3,
  annotations: {
    'deployment.kubernetes.io/revision': '3',
    'kubectl.kubernetes.io/last-applied-configuration': '{}',
    'kubernetes.io/change-cause': 'deploy current',
  },
  paused: false,
  replicas: 3,
  selector: { app: 'api' },
  template: template(image),
  status: {
    observedGeneration: 3,
    replicas: 3,
    updatedReplicas: 3,
    readyReplicas: 3,
    availableReplicas: 3,
    unavailableReplicas: 0,
    conditions: [],
  },
  ...extra,
});

const history = [rs(1, 'api:1.0'), rs(2, 'api:1.1'), rs(3, 'api:1.2')];

describe('planRollback', () => {
  it('goes back to the previous revision by default, without the pod-template-hash label', () => {
    const plan = planRollback(deployment('api:1.2'), history);
    expect(plan.kind).toBe('rollback');
    if (plan.kind !== 'rollback') return;
    expect(plan.toRevision).toBe(2);
    expect(plan.before).toEqual({ revision: 3, images: ['api=api:1.2'] });
    expect(plan.after).toEqual({ revision: 2, images: ['api=api:1.1'] });
    expect(plan.template).toEqual(template('api:1.1'));
  });

  it('carries annotations as kubectl does: kept ones from the deployment, the rest from the ReplicaSet', () => {
    const plan = planRollback(deployment('api:1.2'), history);
    if (plan.kind !== 'rollback') throw new Error('expected a rollback');
    expect(plan.annotations).toEqual({
      'deployment.kubernetes.io/revision': '3',
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
      'kubernetes.io/change-cause': 'deploy api:1.1',
    });
  });

  it('goes to an explicit --to revision', () => {
    const plan = planRollback(deployment('api:1.2'), history, 1);
    expect(plan.kind === 'rollback' && plan.after.images).toEqual(['api=api:1.0']);
  });

  it('reports "already at that revision" as a no-op', () => {
    const plan = planRollback(deployment('api:1.2'), history, 3);
    expect(plan).toMatchObject({ kind: 'noop', revision: 3 });
  });

  it('ignores ReplicaSets owned by another deployment and ones without a revision', () => {
    const foreign = rs(9, 'other:1', { ownerUids: ['uid-other'] });
    const unnumbered = rs(0, 'api:0.9', { annotations: {} });
    const plan = planRollback(deployment('api:1.2'), [...history, foreign, unnumbered]);
    expect(plan.kind === 'rollback' && plan.toRevision).toBe(2);
  });

  it('refuses a paused deployment, an unknown revision and a deployment with no history', () => {
    const paused = () => planRollback(deployment('api:1.2', { paused: true }), history);
    expect(paused).toThrow(StateError);
    expect(paused).toThrow(/paused/);
    expect(() => planRollback(deployment('api:1.2'), history, 7)).toThrow(
      'Revision 7 of api is not in its history (revisions: 1, 2, 3).',
    );
    expect(() => planRollback(deployment('api:1.2'), [rs(3, 'api:1.2')])).toThrow(/no earlier revision/);
  });

  it('patches template and annotations, guarded by the planned resourceVersion', () => {
    const plan = planRollback(deployment('api:1.2'), history);
    if (plan.kind !== 'rollback') throw new Error('expected a rollback');
    expect(rollbackPatch(plan)).toEqual([
      { op: 'replace', path: '/metadata/resourceVersion', value: '42' },
      { op: 'replace', path: '/spec/template', value: template('api:1.1') },
      { op: 'add', path: '/metadata/annotations', value: plan.annotations },
    ]);
  });
});
