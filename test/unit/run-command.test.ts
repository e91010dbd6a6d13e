import { describe, expect, it } from 'vitest';
import type { Checkpoints } from '../../src/core/command-job.js';
import { ExternalServiceError, StateError } from '../../src/core/errors.js';
import { defineArgs } from '../../src/core/grammar.js';
import { message } from '../../src/core/message.js';
import type { Reversal } from '../../src/core/undo.js';
import { defineCommand, type EffectCheck } from '../../src/engine/command-module.js';
import { recordIdCandidates } from '../../src/engine/record-id.js';
import { type JobAttempt, type RunDeps, runCommand } from '../../src/engine/run-command.js';
import { MemoryLedger } from '../../src/queue/ledger.js';
import { MemoryApprovals, MemoryLocks } from '../../src/queue/memory-state.js';
import {
  ManualClock,
  noCluster,
  RecordingChat,
  RecordingJobs,
  silentLog,
  testConfig,
} from '../helpers/fake-ports.js';

/** A mutating command whose "cluster" is a counter: the effect, and what the test makes go wrong after it. */
function counterCommand(
  options: { afterEffect?: () => void; clock?: ManualClock; reversal?: Reversal } = {},
) {
  const state = { applied: 0, intent: undefined as number | undefined };
  const command = defineCommand({
    name: 'restart',
    summary: 'test',
    usage: '/ops restart <deployment> --env <env>',
    action: 'restart',
    parse: defineArgs({ positionals: {}, flags: {} }),
    scope: () => ({ environment: 'staging', target: 'api' }),
    async run(ctx) {
      if (ctx.checkpoint.get('intent') === undefined) {
        await ctx.checkpoint.set('intent', 1);
        state.applied++;
      }
      options.afterEffect?.();
      return {
        outcome: 'executed',
        message: message('Restarted api in staging.'),
        audit: { target: 'api' },
        ...(options.reversal ? { reversal: options.reversal } : {}),
      };
    },
    async verify(ctx): Promise<EffectCheck | undefined> {
      return ctx.checkpoint.get('intent') === undefined ? undefined : 'applied';
    },
  });
  return { state, command };
}

function harness(command: ReturnType<typeof counterCommand>['command'], clock = new ManualClock()) {
  const chat = new RecordingChat();
  const jobs = new RecordingJobs();
  const observed: [string, string, number][] = [];
  const deps: RunDeps = {
    config: testConfig(),
    cluster: noCluster,
    chat,
    clock,
    jobs,
    locks: new MemoryLocks(),
    approvals: new MemoryApprovals(),
    commands: [command],
    log: silentLog,
    newApprovalId: () => 'a'.repeat(32),
    observe: (c, o, s) => observed.push([c, o, s]),
  };
  let checkpoints: Checkpoints = {};
  const attempt = (n: number, max = 3): JobAttempt => ({
    data: {
      id: 'cmd-1',
      command: 'restart',
      input: { words: [], flags: {} },
      requester: { id: 'UONCALL1', name: 'alice' },
      channel: { id: 'COPS' },
      requestedAt: clock.now(),
    },
    attempt: n,
    maxAttempts: max,
    checkpoints,
    saveCheckpoints: async (next) => {
      checkpoints = structuredClone(next);
    },
  });
  return { chat, jobs, deps, attempt, observed };
}

const slackDown = () =>
  new ExternalServiceError('slack', 'Slack chat.postMessage failed: ratelimited', { status: 429 });

describe('runCommand: effect, then record, then chat', () => {
  it('records an applied change as executed even when Slack refuses every reply, and never applies it twice', async () => {
    const { state, command } = counterCommand();
    const { chat, jobs, deps, attempt } = harness(command);
    chat.failWith = () => slackDown();

    // Not the last attempt: the reply is retried with the job, but the record is already queued.
    await expect(runCommand(deps, attempt(1))).rejects.toMatchObject({ retryable: true });
    expect([...jobs.audits.values()].map((r) => `${r.id}:${r.outcome}`)).toEqual(['cmd-1-executed:executed']);

    // The last attempt: Slack is still down. The job completes; nothing says "failed".
    const result = await runCommand(deps, attempt(3));
    expect(result.outcome).toBe('executed');
    expect(state.applied).toBe(1);
    expect([...jobs.audits.keys()]).toEqual(['cmd-1-executed']);
  });

  it('posts the outcome fresh when the message to update is gone (message_not_found)', async () => {
    const { command } = counterCommand();
    const { chat, deps, attempt } = harness(command);
    // A retry message was posted earlier, then deleted by someone in the channel.
    const gone = new ExternalServiceError('slack', 'Slack chat.update failed: message_not_found', {
      retryable: false,
      reason: 'message_not_found',
    });
    chat.failWith = (method) => (method === 'update' ? gone : undefined);
    const a = attempt(1);
    a.checkpoints = { progressTs: '99' };
    await runCommand(deps, a);
    expect(chat.events.map((e) => `${e.kind}:${e.text}`)).toEqual(['post:Restarted api in staging.']);
  });

  it('judges a final failure by effect: a change in place is recorded as executed, with the error', async () => {
    const { command } = counterCommand({
      afterEffect: () => {
        throw new StateError('not_found', 'Revision 2 of api is not in its history (revisions: 1, 3, 4).');
      },
    });
    const { jobs, deps, attempt } = harness(command);
    await expect(runCommand(deps, attempt(1))).rejects.toThrow(/not in its history/);
    const records = [...jobs.audits.values()];
    expect(records.map((r) => r.outcome)).toEqual(['executed']);
    expect(records[0]?.message).toMatch(/^restart was applied, but following it failed: Revision 2/);
  });

  it('records how long a failed command ran', async () => {
    const clock = new ManualClock();
    const failing = defineCommand({
      name: 'restart',
      summary: 'test',
      usage: '/ops restart',
      action: 'restart',
      parse: defineArgs({ positionals: {}, flags: {} }),
      scope: () => ({ environment: 'staging', target: 'api' }),
      async run() {
        clock.advance(2_500);
        throw new StateError('paused', 'api is paused.');
      },
    });
    const { jobs, deps, attempt, observed } = harness(failing, clock);
    await expect(runCommand(deps, attempt(1))).rejects.toThrow(/paused/);
    expect(observed).toEqual([['restart', 'failed', 2.5]]);
    expect([...jobs.audits.values()].map((r) => r.outcome)).toEqual(['failed']);
  });

  it('gives an executed change a record id from its job, keeps it on a retry, and never takes an id another job holds', async () => {
    const scaled: Reversal = { kind: 'scale', environment: 'staging', deployment: 'api', from: 2, to: 5 };
    const { command } = counterCommand({ reversal: scaled });
    const { chat, jobs, deps, attempt } = harness(command);
    const ledger = new MemoryLedger();
    const [first, second] = recordIdCandidates('cmd-1');
    // Another job already holds the first id this job would take.
    await ledger.save({
      recordId: first!,
      jobId: 'cmd-other',
      auditId: 'cmd-other-executed',
      auditPath: 'audit/x.json',
      action: 'scale',
      environment: 'staging',
      time: '2026-12-07T01:00:00.000Z',
      requester: { id: 'U2' },
      reversal: scaled,
      touches: ['staging/api'],
    });
    deps.ledger = ledger;
    chat.failWith = () => slackDown();
    await expect(runCommand(deps, attempt(1))).rejects.toMatchObject({ retryable: true });
    chat.failWith = () => undefined;
    await runCommand(deps, attempt(2));

    const record = jobs.audits.get('cmd-1-executed')!;
    expect(record.recordId).toBe(second);
    expect(record.reversal).toEqual(scaled);
    const entry = await ledger.get(second!);
    expect(entry).toMatchObject({ jobId: 'cmd-1', auditId: 'cmd-1-executed', time: record.time });
    expect(entry?.auditPath).toMatch(
      /^audit\/\d{4}\/\d\d\/\d\d\/.*-restart-staging-api-cmd-1-executed\.json$/,
    );
    expect((await ledger.get(first!))?.jobId).toBe('cmd-other');
  });
});
