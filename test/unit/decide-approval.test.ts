import { describe, expect, it } from 'vitest';
import { ExternalServiceError } from '../../src/core/errors.js';
import { type ApprovalDeps, decideApproval, drainApprovalOutbox } from '../../src/engine/decide-approval.js';
import { MemoryApprovals } from '../../src/queue/memory-state.js';
import { ManualClock, RecordingChat, RecordingJobs, silentLog, testConfig } from '../helpers/fake-ports.js';

async function pendingRequest(approvals: MemoryApprovals, clock: ManualClock) {
  await approvals.create({
    id: 'f'.repeat(32),
    status: 'pending',
    job: {
      id: 'cmd-9-run',
      command: 'rollback',
      input: { words: ['api'], flags: { env: 'prod', reason: 'bad deploy' } },
      requester: { id: 'UONCALL1', name: 'alice' },
      channel: { id: 'COPS' },
      requestedAt: clock.now(),
      stage: 'run',
    },
    plan: ['Image: api:1.5.0 → api:1.4.1'],
    specVersion: '3/0d5e6a3c-uid',
    environment: 'prod',
    target: 'api',
    channel: 'COPS',
    messageTs: '7',
    expiresAt: clock.now() + 60_000,
  });
}

function deps(): ApprovalDeps & { jobs: RecordingJobs; approvals: MemoryApprovals; clock: ManualClock } {
  const clock = new ManualClock();
  return {
    config: testConfig(),
    approvals: new MemoryApprovals(),
    jobs: new RecordingJobs(),
    chat: new RecordingChat(),
    directory: new RecordingChat(),
    clock,
    log: silentLog,
  };
}

const click = {
  approvalId: 'f'.repeat(32),
  decision: 'approve' as const,
  user: { id: 'UONCALL2', name: 'bob' },
};

describe('decideApproval: the decision and the job it starts are one step', () => {
  it('keeps an approval whose job could not be queued, and queues it from the outbox later', async () => {
    const d = deps();
    await pendingRequest(d.approvals, d.clock);
    let queueDown = true;
    d.jobs.failCommandEnqueue = () =>
      queueDown ? new ExternalServiceError('redis', 'Redis is unreachable.') : undefined;

    const reply = await decideApproval(d, { ...click, channelId: 'COPS', deliveryId: 'd1' });
    expect(reply.text).toMatch(/^Approved: rollback api in prod/);
    expect((await d.approvals.get(click.approvalId))?.status).toBe('approved');
    expect(d.jobs.commands.size).toBe(0);

    // The queue is back: the outbox drain queues the approved job exactly once.
    queueDown = false;
    expect(await drainApprovalOutbox(d)).toBe(1);
    expect([...d.jobs.commands.values()]).toMatchObject([
      { id: 'cmd-9-run', approver: { id: 'UONCALL2' }, expectedSpecVersion: '3/0d5e6a3c-uid' },
    ]);
    expect(await drainApprovalOutbox(d)).toBe(0);
  });

  it('never queues a denied request', async () => {
    const d = deps();
    await pendingRequest(d.approvals, d.clock);
    await decideApproval(d, { ...click, decision: 'deny', channelId: 'COPS', deliveryId: 'd2' });
    expect(await drainApprovalOutbox(d)).toBe(0);
    expect(d.jobs.commands.size).toBe(0);
  });
});
