import { describe, expect, it } from 'vitest';
import type { DeploymentView, ReplicaSetView } from '../../src/core/deployment.js';
import {
  irreversibleReason,
  type LaterAction,
  type LiveDeployment,
  planUndo,
  type Reversal,
  touchesOf,
} from '../../src/core/undo.js';

const template = (image: string, hash?: string) => ({
  metadata: { labels: { app: 'api', ...(hash ? { 'pod-template-hash': hash } : {}) } },
  spec: { containers: [{ name: 'api', image }] },
});

const rs = (revision: number, image: string, createdAt = '2026-12-07T01:00:00Z'): ReplicaSetView => ({
  name: `api-${revision}`,
  annotations: { 'deployment.kubernetes.io/revision': String(revision) },
  ownerUids: ['uid-api'],
  template: template(image, `h${revision}`),
  replicas: 0,
  createdAt,
});

const deployment = (image: string, extra: Partial<DeploymentView> = {}): DeploymentView => ({
  name: 'api',
  namespace: 'apps',
  uid: 'uid-api',
  resourceVersion: '42',
  generation: 3,
  annotations: {},
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

/** A rollback from 1.2 (revision 3) to 1.1, which the controller renumbered as revision 4. */
const rollback: Reversal = {
  kind: 'rollback',
  environment: 'staging',
  deployment: 'api',
  revision: 3,
  template: template('api:1.2'),
  annotations: {},
  images: ['api=api:1.2'],
  after: { template: template('api:1.1'), images: ['api=api:1.1'] },
};
const afterRollback = [rs(1, 'api:1.0'), rs(3, 'api:1.2'), rs(4, 'api:1.1')];
const time = '2026-12-07T01:30:00.000Z';
const live = (d: DeploymentView, sets: ReplicaSetView[]) =>
  new Map<string, LiveDeployment>([['staging/api', { deployment: d, replicaSets: sets }]]);

describe('planUndo', () => {
  it('undoes a rollback to the revision holding the exact template that was live before', () => {
    const plan = planUndo({ reversal: rollback, time }, live(deployment('api:1.1'), afterRollback), []);
    expect(plan.changes).toEqual([]);
    expect(plan.steps).toEqual([
      expect.objectContaining({
        command: 'rollback',
        words: ['api'],
        flags: { env: 'staging', to: '3' },
        lockKey: 'staging/api',
      }),
    ]);
  });

  it('finds that template under its new number when a later rollback renumbered it', () => {
    // Someone rolled back to 1.2 and forward again: 1.2 is now revision 5, and 3 is gone.
    const sets = [rs(1, 'api:1.0'), rs(5, 'api:1.2'), rs(6, 'api:1.1')];
    const plan = planUndo({ reversal: rollback, time }, live(deployment('api:1.1'), sets), []);
    expect(plan.steps[0]?.flags.to).toBe('5');
  });

  it('reports a later rollout outside opsbot with the time its ReplicaSet was created', () => {
    const sets = [...afterRollback, rs(5, 'api:1.3', '2026-12-07T01:45:12Z')];
    const plan = planUndo({ reversal: rollback, time }, live(deployment('api:1.3'), sets), []);
    expect(plan.changes).toEqual([
      {
        target: 'staging/api',
        what: 'api now runs revision 5 (api=api:1.3), not the api=api:1.1 the record left; changed outside opsbot at 2026-12-07 01:45:12 UTC',
      },
    ]);
    // The plan is still made: --force goes through with it.
    expect(plan.steps).toHaveLength(1);
  });

  it('names the later opsbot action that changed the target', () => {
    const later: LaterAction[] = [
      {
        recordId: 'bbbbbbbb',
        action: 'scale',
        time: '2026-12-07T01:50:00.000Z',
        requester: { id: 'U2', name: 'bob' },
        touches: ['staging/api'],
      },
    ];
    const scale: Reversal = { kind: 'scale', environment: 'staging', deployment: 'api', from: 2, to: 5 };
    const plan = planUndo({ reversal: scale, time }, live(deployment('api:1.1', { replicas: 8 }), []), later);
    expect(plan.changes[0]?.what).toBe(
      'api runs 8 replicas, not the 5 the record left; changed by @bob with scale (record bbbbbbbb) at 2026-12-07 01:50:00 UTC',
    );
    expect(plan.steps[0]).toMatchObject({ command: 'scale', words: ['api', '2'] });
  });

  it('skips a rollback whose earlier revision has left the history, saying so', () => {
    const plan = planUndo({ reversal: rollback, time }, live(deployment('api:1.1'), [rs(4, 'api:1.1')]), []);
    expect(plan.steps).toEqual([]);
    expect(plan.skipped).toEqual(['api: revision 3 (api=api:1.2) is no longer in its history']);
  });

  it("reverses a runbook's steps newest first, compares only the last change per target, and leaves a restart", () => {
    const steps: Reversal = {
      kind: 'steps',
      steps: [
        {
          label: 'step 1',
          reversal: { kind: 'scale', environment: 'staging', deployment: 'api', from: 3, to: 6 },
        },
        { label: 'step 2', reversal: rollback },
        {
          label: 'step 3',
          reversal: {
            kind: 'irreversible',
            why: 'a restart replaces the pods',
            nearest: '/ops rollback web',
          },
        },
        { label: 'step 4', reversal: { kind: 'env.open', environment: 'staging', name: 'pr-1' } },
      ],
    };
    const plan = planUndo(
      { reversal: steps, time },
      live(deployment('api:1.1', { replicas: 6 }), afterRollback),
      [],
    );
    expect(plan.changes).toEqual([]);
    expect(plan.steps.map((s) => s.command)).toEqual(['env close', 'rollback', 'scale']);
    expect(plan.skipped).toEqual(['step 3: a restart replaces the pods']);
    expect(touchesOf(steps)).toEqual(['staging/api']);
    expect(irreversibleReason(steps)).toBeUndefined();
  });

  it('undoes a pause by resuming, and refuses when it was resumed since', () => {
    const pause: Reversal = { kind: 'pause', environment: 'staging', deployment: 'api', paused: true };
    const paused = planUndo({ reversal: pause, time }, live(deployment('api:1.1', { paused: true }), []), []);
    expect(paused.steps.map((s) => s.command)).toEqual(['resume']);
    expect(paused.changes).toEqual([]);
    const resumed = planUndo({ reversal: pause, time }, live(deployment('api:1.1'), []), []);
    expect(resumed.changes[0]?.what).toMatch(/^api is not paused, not as the record left it/);
  });

  it('says why a restart cannot be undone, and what comes nearest', () => {
    const restart: Reversal = {
      kind: 'irreversible',
      why: 'a restart replaces the pods',
      nearest: '/ops rollback api --env staging',
    };
    expect(irreversibleReason(restart)).toEqual({
      why: 'a restart replaces the pods',
      nearest: '/ops rollback api --env staging',
    });
    expect(irreversibleReason(rollback)).toBeUndefined();
  });
});
