import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockActionPayload, newTriggerId, slashCommandBody } from '../fakes/slack-signing.js';
import type { SlackSocketServer } from '../fakes/slack-socket.js';
import { recordsFor, until, writesTo } from '../faults/support.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { approvalIdIn, auditRecords, startWorld, USERS, type World } from '../helpers/world.js';

/**
 * The bot in Socket Mode (SLACK_APP_TOKEN set, no public URL), driven through a local Socket Mode
 * server that speaks Slack's envelope protocol to the real @slack/socket-mode client.
 */
describe('Socket Mode', () => {
  let world: World;
  let socket: SlackSocketServer;
  let replicaA: BotProcess;
  let replicaB: BotProcess | undefined;

  beforeAll(async () => {
    world = await startWorld({ socketMode: true });
    socket = world.slack.socket as SlackSocketServer;
    replicaA = await startBotProcess(world.env);
  });

  afterAll(async () => {
    await replicaB?.stop();
    await replicaA?.stop();
    await world?.close();
  });

  /** A slash command as Slack puts it in a slash_commands envelope: the form fields, as JSON. */
  const command = (
    text: string,
    user: { id: string; name: string } = USERS.oncall,
    triggerId = newTriggerId(),
  ) =>
    Object.fromEntries(
      new URLSearchParams(
        slashCommandBody({
          text,
          user_id: user.id,
          user_name: user.name,
          channel_id: 'COPS',
          channel_name: 'ops',
          trigger_id: triggerId,
          response_url: world.slack.responseUrl(),
        }),
      ),
    );
  const click = (value: string, user: { id: string; name: string } = USERS.oncall2) =>
    blockActionPayload({
      user: user.id,
      userName: user.name,
      channel: 'COPS',
      actionId: 'approval.approve',
      value,
      responseUrl: world.slack.responseUrl(),
    });
  const latestApproval = async (before: string | undefined) =>
    until(
      () => {
        const id = approvalIdIn(world);
        return id !== before && id;
      },
      15_000,
      'the approval request',
    );

  it('connects with a URL from apps.connections.open, called with the app-level token', async () => {
    const [only] = await socket.waitForOpen(1);
    expect(only?.id).toBe(1);
    const opens = world.slack.calls.filter((c) => c.method === 'apps.connections.open');
    expect(opens.map((c) => c.status)).toEqual([200]);
  });

  it('runs /ops rollback in a protected environment and its Approve click, both acknowledged by envelope_id', async () => {
    const ack = await socket.send('slash_commands', command('rollback api --env prod --reason "bad deploy"'));
    expect(ack.payload?.text).toMatch(/^Accepted: rollback api in prod/);
    expect(ack.blockErrors).toEqual([]);
    const approvalId = await latestApproval(undefined);
    const clickAck = await socket.send('interactive', click(approvalId));
    expect(clickAck.payload).toBeUndefined();
    await until(() => recordsFor(world, 'api').some((r) => r.outcome === 'executed'), 20_000, 'the rollback');
    expect(writesTo(world, 'api')).toHaveLength(1);
    expect(recordsFor(world, 'api').map((r) => r.outcome)).toEqual(
      expect.arrayContaining(['approved', 'executed']),
    );
  });

  it('reconnects after refresh_requested and after the connection is dropped', async () => {
    const [first] = await socket.waitForOpen(1);
    socket.requestRefresh(first?.id ?? 0);
    const [second] = await until(
      async () => {
        const open = await socket.waitForOpen(1, 15_000);
        return open[0]?.id !== first?.id && open;
      },
      15_000,
      'a new connection after refresh_requested',
    );
    expect((await socket.send('slash_commands', command('status api --env staging'))).payload?.text).toMatch(
      /^Accepted: status api in staging/,
    );
    socket.drop(second?.id ?? 0);
    await until(
      async () => {
        const open = await socket.waitForOpen(1, 15_000);
        return (open[0]?.id ?? 0) > (second?.id ?? 0) && open;
      },
      15_000,
      'a new connection after the drop',
    );
    expect((await socket.send('slash_commands', command('status api --env staging'))).payload?.text).toMatch(
      /^Accepted: status api in staging/,
    );
    // Every reconnect asked for a new single-use URL.
    expect(world.slack.calls.filter((c) => c.method === 'apps.connections.open')).toHaveLength(3);
  }, 40_000);

  it('never runs a command or a click twice across two replicas, each with its own connection, when Slack retries an envelope on the other', async () => {
    replicaB = await startBotProcess(world.env);
    const [a, b] = await socket.waitForOpen(2);
    expect(a?.id).not.toBe(b?.id);

    // Slack retries an envelope nobody acknowledged in time, possibly on another connection.
    const restart = command('restart worker --env staging');
    const envelopeId = 'env-restart-worker-1';
    const acks = await Promise.all([
      socket.send('slash_commands', restart, { connection: a?.id ?? 0, envelopeId }),
      socket.send('slash_commands', restart, { connection: b?.id ?? 0, envelopeId, retryAttempt: 1 }),
    ]);
    const texts = acks.map((ack) => String(ack.payload?.text)).sort();
    expect(texts[0]).toMatch(/^Accepted: restart worker in staging/);
    expect(texts[1]).toMatch(/^Already accepted: restart worker in staging/);
    await until(
      () => recordsFor(world, 'worker').some((r) => r.outcome === 'executed'),
      20_000,
      'the restart',
    );

    const before = approvalIdIn(world);
    const apiWrites = writesTo(world, 'api').length;
    const outcomes = () => {
      const counts: Record<string, number> = {};
      for (const r of recordsFor(world, 'api'))
        counts[String(r.outcome)] = (counts[String(r.outcome)] ?? 0) + 1;
      return counts;
    };
    const earlier = outcomes();
    await socket.send('slash_commands', command('rollback api --env prod --reason "still bad"'), {
      connection: b?.id ?? 0,
    });
    const approvalId = await latestApproval(before);
    const approve = click(approvalId);
    await Promise.all([
      socket.send('interactive', approve, { connection: a?.id ?? 0, envelopeId: 'env-approve-api-2' }),
      socket.send('interactive', approve, {
        connection: b?.id ?? 0,
        envelopeId: 'env-approve-api-2',
        retryAttempt: 1,
      }),
    ]);
    await until(
      () => (outcomes().executed ?? 0) > (earlier.executed ?? 0),
      20_000,
      'the second rollback of api',
    );
    await new Promise((r) => setTimeout(r, 1_500));

    expect(writesTo(world, 'worker')).toHaveLength(1);
    expect(writesTo(world, 'api')).toHaveLength(apiWrites + 1);
    expect(recordsFor(world, 'worker').map((r) => r.outcome)).toEqual(['executed']);
    // One request, one approval, one execution, and no "refused" record or reply for the retried click.
    const added = Object.fromEntries(Object.entries(outcomes()).map(([k, n]) => [k, n - (earlier[k] ?? 0)]));
    expect(added).toEqual({ requested: 1, approved: 1, executed: 1 });
    expect(auditRecords(world).filter((r) => r.outcome === 'refused')).toEqual([]);
    expect(world.slack.ephemerals.filter((e) => e.text?.startsWith('Refused'))).toEqual([]);
  }, 60_000);
});
