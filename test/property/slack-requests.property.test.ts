import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signSlackRequest, slashCommandBody } from '../fakes/slack-signing.js';
import { sleep, until, writesTo } from '../faults/support.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import {
  approvalIdIn,
  auditRecords,
  click,
  SIGNING_SECRET,
  slash,
  startWorld,
  USERS,
  type World,
} from '../helpers/world.js';

const FORGERIES = [
  'no headers',
  'no signature',
  'no timestamp',
  'wrong secret',
  'tampered body',
  'malformed signature',
  'too old',
  'too far in the future',
] as const;
type Forgery = (typeof FORGERIES)[number];

/** A slash command as an attacker (or a replaying proxy) might send it. */
function forged(kind: Forgery, text: string, secret: string, skewSeconds: number) {
  const body = slashCommandBody({
    text,
    user_id: USERS.oncall.id,
    user_name: USERS.oncall.name,
    channel_id: 'COPS',
  });
  const now = Math.floor(Date.now() / 1000);
  const good = signSlackRequest(SIGNING_SECRET, body, now);
  const headers: Record<string, string> = { ...good };
  let sent = body;
  switch (kind) {
    case 'no headers':
      delete headers['x-slack-signature'];
      delete headers['x-slack-request-timestamp'];
      break;
    case 'no signature':
      delete headers['x-slack-signature'];
      break;
    case 'no timestamp':
      delete headers['x-slack-request-timestamp'];
      break;
    case 'wrong secret':
      Object.assign(headers, signSlackRequest(secret, body, now));
      break;
    case 'tampered body':
      sent = body.replace(USERS.oncall.id, USERS.oncall2.id);
      break;
    case 'malformed signature':
      headers['x-slack-signature'] = `v1=${good['x-slack-signature'].slice(3)}`;
      break;
    case 'too old':
      Object.assign(headers, signSlackRequest(SIGNING_SECRET, body, now - skewSeconds));
      break;
    case 'too far in the future':
      Object.assign(headers, signSlackRequest(SIGNING_SECRET, body, now + skewSeconds));
      break;
  }
  return { headers, body: sent };
}

describe('Slack requests that are not what they claim', () => {
  let world: World;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    world = await startWorld();
    bot = await startBotProcess(world.env);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('answers 401 to a missing, wrong, too old or too new signature, and queues nothing', async () => {
    // The control: the same request, signed properly, is served.
    expect((await slash(bot!.url, world, 'help')).status).toBe(200);
    const kubeBefore = world.kube.requests.length;
    const statuses: Record<string, number[]> = {};
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...FORGERIES),
        fc.constantFrom(
          'restart api --env staging',
          'rollback worker --env staging',
          'scale web 5 --env staging',
        ),
        fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s !== SIGNING_SECRET),
        fc.integer({ min: 5 * 60 + 2, max: 7 * 24 * 3600 }),
        async (kind, text, secret, skew) => {
          const { headers, body } = forged(kind, text, secret, skew);
          const res = await fetch(`${bot!.url}/slack/events`, { method: 'POST', headers, body });
          await res.text();
          statuses[kind] = [...(statuses[kind] ?? []), res.status];
          expect(res.status, kind).toBe(401);
        },
      ),
      { numRuns: 60 },
    );
    await sleep(1_000);
    expect(world.kube.requests.length - kubeBefore).toBe(0);
    expect(auditRecords(world).filter((r) => r.outcome !== 'refused')).toHaveLength(0);
    expect(bot!.lines.some((l) => l.msg === 'command started')).toBe(false);
    expect(world.slack.calls.filter((c) => c.method === 'chat.postMessage')).toHaveLength(0);
  }, 60_000);

  it('refuses tampered and replayed approval buttons, with no effect', async () => {
    const ack = await slash(bot!.url, world, 'rollback api --env prod --reason "property test"');
    const jobId = /job (cmd-[0-9a-f]+)/.exec(ack.body.text ?? '')?.[1];
    expect(jobId, ack.body.text).toBeDefined();
    const approvalId = await until(
      () =>
        auditRecords(world).some((r) => r.jobId === jobId && r.outcome === 'requested') &&
        approvalIdIn(world),
      15_000,
      'the approval request',
    );
    const refusedBefore = world.slack.ephemerals.filter((e) => e.text?.startsWith('Refused:')).length;

    const flip = (id: string, i: number) => `${id.slice(0, i)}${id[i] === 'a' ? 'b' : 'a'}${id.slice(i + 1)}`;
    const tampered = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 32, maxLength: 32 }),
      fc.integer({ min: 0, max: 31 }).map((i) => flip(approvalId, i)),
      fc.constantFrom(
        '',
        `${approvalId}x`,
        ` ${approvalId}`,
        approvalId.toUpperCase(),
        JSON.stringify({ id: approvalId, decision: 'approve' }),
        `${approvalId}\u0000`,
        'x'.repeat(2_000),
        '../approval/../x',
      ),
      fc.string({ maxLength: 64 }),
    );
    // The real id, clicked by someone who may not decide it: the requester, a developer, a stranger.
    const wrongPerson = fc
      .constantFrom(USERS.oncall, USERS.developer, USERS.stranger)
      .map((user) => ({ value: approvalId, user }));
    const clicks = fc.oneof(
      tampered.map((value) => ({ value, user: USERS.oncall2 })),
      wrongPerson,
    );
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        clicks,
        fc.constantFrom('approval.approve' as const, 'approval.deny' as const),
        async (c, actionId) => {
          runs++;
          expect(await click(bot!.url, world, { value: c.value, user: c.user, actionId })).toBe(200);
        },
      ),
      { numRuns: 30 },
    );
    await until(
      () =>
        world.slack.ephemerals.filter((e) => e.text?.startsWith('Refused:')).length - refusedBefore >= runs,
      15_000,
      'a refusal for every click',
    );
    await sleep(1_000);
    expect(writesTo(world, 'api')).toHaveLength(0);
    expect(
      auditRecords(world)
        .filter((r) => r.jobId === jobId)
        .map((r) => r.outcome),
    ).toEqual(['requested']);

    // Approved once; the same click redelivered and later clicks on the decided request change nothing.
    const triggerId = '9123456789.1234567890.fedcba9876543210fedcba9876543210';
    expect(await click(bot!.url, world, { value: approvalId, actionId: 'approval.approve', triggerId })).toBe(
      200,
    );
    await until(
      () => auditRecords(world).some((r) => r.jobId === `${jobId}-run` && r.outcome === 'executed'),
      20_000,
      'the approved rollback',
    );
    for (const replay of [
      { actionId: 'approval.approve' as const, triggerId },
      { actionId: 'approval.approve' as const },
      { actionId: 'approval.deny' as const },
      { actionId: 'approval.approve' as const, user: USERS.oncall },
    ]) {
      expect(await click(bot!.url, world, { value: approvalId, ...replay })).toBe(200);
    }
    await sleep(2_000);
    expect(writesTo(world, 'api')).toHaveLength(1);
    const outcomes = auditRecords(world)
      .filter((r) => String(r.jobId).startsWith(jobId!))
      .map((r) => r.outcome)
      .sort();
    expect(outcomes).toEqual(['approved', 'executed', 'requested']);
  }, 90_000);
});
