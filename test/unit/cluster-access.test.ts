import { describe, expect, it } from 'vitest';
import { scale } from '../../commands/scale.js';
import type { Checkpoints } from '../../src/core/command-job.js';
import { type JobAttempt, type RunDeps, runCommand } from '../../src/engine/run-command.js';
import type { ClusterIdentity, ClusterTarget, ResourceAccess } from '../../src/ports.js';
import { MemoryApprovals, MemoryLocks } from '../../src/queue/memory-state.js';
import {
  ManualClock,
  noCluster,
  RecordingChat,
  RecordingJobs,
  silentLog,
  testConfig,
} from '../helpers/fake-ports.js';

/** A scale job in an impersonating staging, against a cluster whose review says no and that fails any other call. */
function deniedScale(reason: string) {
  const reviews: [ClusterTarget, ClusterIdentity, ResourceAccess][] = [];
  const config = testConfig({
    environments: {
      staging: { context: 'staging', namespace: 'apps', impersonate: { groups: ['opsbot:{role}'] } },
      prod: { context: 'prod', namespace: 'apps', protected: true },
    },
    users: { UONCALL1: 'alice@corp.example' },
  });
  const jobs = new RecordingJobs();
  const chat = new RecordingChat();
  const deps: RunDeps = {
    config,
    cluster: {
      ...noCluster,
      reviewAccess: async (target, identity, access) => {
        reviews.push([target, identity, access]);
        return { allowed: false, reason };
      },
    },
    chat,
    clock: new ManualClock(),
    jobs,
    locks: new MemoryLocks(),
    approvals: new MemoryApprovals(),
    commands: [scale],
    log: silentLog,
    directory: chat,
    newApprovalId: () => 'a'.repeat(32),
  };
  let checkpoints: Checkpoints = {};
  const attempt: JobAttempt = {
    data: {
      id: 'cmd-1',
      command: 'scale',
      input: { words: ['api', '3'], flags: { env: 'staging' } },
      requester: { id: 'UONCALL1', name: 'alice' },
      channel: { id: 'COPS' },
      requestedAt: 0,
    },
    attempt: 1,
    maxAttempts: 3,
    checkpoints,
    saveCheckpoints: async (next) => {
      checkpoints = structuredClone(next);
    },
  };
  return { run: () => runCommand(deps, attempt), reviews, jobs, chat };
}

describe('the SubjectAccessReview before a mutating command', () => {
  it('asks about exactly the request scale makes (update deployments/scale), as the requester', async () => {
    const { run, reviews } = deniedScale('');
    await run();
    expect(reviews).toEqual([
      [
        expect.objectContaining({ namespace: 'apps', environment: 'staging' }),
        { user: 'alice@corp.example', groups: ['opsbot:oncall'] },
        { verb: 'update', group: 'apps', resource: 'deployments', subresource: 'scale', name: 'api' },
      ],
    ]);
  });

  it('refuses without any other cluster call, quoting the reason the cluster gave, and records it as denied', async () => {
    const reason = 'RBAC: clusterrole.rbac.authorization.k8s.io "scalers" not found';
    const { run, jobs, chat } = deniedScale(reason);
    const outcome = await run();
    const text = `denied by cluster RBAC: User "alice@corp.example" cannot update resource "deployments/scale" in API group "apps" in the namespace "apps" (groups: opsbot:oncall). The cluster said: ${reason}`;
    // noCluster rejects every other call: had one been made, the outcome would be "failed".
    expect(outcome).toMatchObject({ outcome: 'denied' });
    expect([...jobs.audits.values()]).toEqual([
      expect.objectContaining({
        outcome: 'denied',
        action: 'scale',
        message: text,
        environment: 'staging',
        target: 'api',
        namespace: 'apps',
        actingAs: { user: 'alice@corp.example', groups: ['opsbot:oncall'] },
      }),
    ]);
    expect(chat.events.at(-1)?.text).toBe(text);
  });
});
