import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { App, isValidSlackRequest, LogLevel } from '@slack/bolt';
import { type ConversationsListResponse, ErrorCode, WebClient } from '@slack/web-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  SLACK_FAKE_BOT,
  type SlackFake,
  type StartSlackFakeOptions,
  startSlackFake,
} from '../fakes/slack.js';
import {
  blockActionPayload,
  interactionBody,
  postSigned,
  signSlackRequest,
  slashCommandBody,
} from '../fakes/slack-signing.js';

let slack: SlackFake;
let client: WebClient;

async function restart(opts: StartSlackFakeOptions = {}): Promise<void> {
  await slack?.close();
  slack = await startSlackFake(opts);
  client = webClient('xoxb-test');
}

function webClient(token: string | undefined): WebClient {
  return new WebClient(token, {
    slackApiUrl: slack.url,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    logLevel: LogLevel.ERROR,
  });
}

/** The Slack error string of a rejected WebClient call. */
async function slackError(call: Promise<unknown>): Promise<string> {
  const err = (await call.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  )) as { code?: string; data?: { error?: string } };
  expect(err.code).toBe(ErrorCode.PlatformError);
  return err.data?.error ?? '';
}

beforeEach(async () => {
  await restart();
});

afterEach(async () => {
  await slack.close();
});

describe('slack fake: auth and dispatch', () => {
  it('serves the API under /api/ and answers auth.test with the bot identity', async () => {
    expect(slack.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/$/);
    const res = await client.auth.test();
    expect(res).toMatchObject({
      ok: true,
      team_id: 'T0TEST',
      user_id: SLACK_FAKE_BOT.userId,
      bot_id: SLACK_FAKE_BOT.botId,
    });
    expect(res.url).toMatch(/^https:\/\/.+\.slack\.com\/$/);
    expect(slack.calls).toEqual([{ method: 'auth.test', args: {}, at: expect.any(Number), status: 200 }]);
  });

  it('rejects a wrong token with invalid_auth and a missing one with not_authed', async () => {
    expect(await slackError(webClient('xoxb-wrong').auth.test())).toBe('invalid_auth');
    expect(await slackError(webClient(undefined).auth.test())).toBe('not_authed');
  });

  it('accepts a token passed as a method argument', async () => {
    const res = await webClient(undefined).auth.test({ token: 'xoxb-test' });
    expect(res.ok).toBe(true);
  });

  it('answers unknown methods with unknown_method', async () => {
    expect(await slackError(client.apiCall('nope.nothing'))).toBe('unknown_method');
  });
});

describe('slack fake: messages', () => {
  it('posts messages with unique increasing ts and decodes form-encoded blocks', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*deploy* api' } }];
    const first = await client.chat.postMessage({ channel: 'C0OPS', text: 'deploying', blocks });
    const second = await client.chat.postMessage({
      channel: 'C0OPS',
      text: 'done',
      thread_ts: first.ts ?? '',
    });
    expect(first).toMatchObject({
      ok: true,
      channel: 'C0OPS',
      message: { text: 'deploying', blocks, user: SLACK_FAKE_BOT.userId, bot_id: SLACK_FAKE_BOT.botId },
    });
    expect(first.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(Number(second.ts)).toBeGreaterThan(Number(first.ts));
    const [posted, reply] = slack.messages('C0OPS');
    expect(posted).toMatchObject({ channel: 'C0OPS', ts: first.ts, text: 'deploying', blocks });
    expect(reply).toMatchObject({ text: 'done', thread_ts: first.ts ?? '' });
    expect(slack.calls[0]?.args.blocks).toEqual(blocks);
  });

  it('resolves #names and rejects unknown channels, archived channels and empty messages', async () => {
    const ops = slack.addChannel({ name: 'ops-alerts' });
    const byName = await client.chat.postMessage({ channel: '#ops-alerts', text: 'hi' });
    expect(byName.channel).toBe(ops.id);
    expect(await slackError(client.chat.postMessage({ channel: 'not-a-channel', text: 'x' }))).toBe(
      'channel_not_found',
    );
    expect(await slackError(client.chat.postMessage({ channel: '#missing', text: 'x' }))).toBe(
      'channel_not_found',
    );
    expect(await slackError(client.apiCall('chat.postMessage', { channel: ops.id }))).toBe('no_text');
    const badBlocks = client.apiCall('chat.postMessage', { channel: ops.id, text: 'x', blocks: '[not json' });
    expect(await slackError(badBlocks)).toBe('invalid_blocks_format');
    slack.addChannel({ id: 'C0OLD', name: 'old', is_archived: true });
    expect(await slackError(client.chat.postMessage({ channel: 'C0OLD', text: 'x' }))).toBe('is_archived');
    expect(slack.messages()).toHaveLength(1);
  });

  it('refuses blocks over a Block Kit limit with invalid_blocks and the json-pointer of each, as Slack does', async () => {
    const mrkdwn = (text: string) => ({ type: 'mrkdwn', text });
    const button = (text: string, value = 'v') => ({
      type: 'button',
      action_id: 'a',
      text: { type: 'plain_text', text },
      value,
    });
    // The WebClient logs Slack's response_metadata messages at error level; here they are expected.
    const quiet = new WebClient('xoxb-test', {
      slackApiUrl: slack.url,
      retryConfig: { retries: 0 },
      logger: {
        debug: () => {},
        info: () => {},
        warn: () => {},
        error: () => {},
        setLevel: () => {},
        getLevel: () => LogLevel.ERROR,
        setName: () => {},
      },
    });
    const refusal = async (
      blocks: unknown[],
      method: 'chat.postMessage' | 'chat.postEphemeral' = 'chat.postMessage',
    ) => {
      const err = (await quiet
        .apiCall(method, { channel: 'C0OPS', user: 'U1', text: 'fallback', blocks })
        .then(
          () => undefined,
          (e: unknown) => e,
        )) as { data?: { error?: string; response_metadata?: { messages?: string[] } } } | undefined;
      return err ? [err.data?.error, ...(err.data?.response_metadata?.messages ?? [])] : ['ok'];
    };
    // 😀 is two UTF-16 units but one character: 3000 of them fit a section.
    expect(await refusal([{ type: 'section', text: mrkdwn('😀'.repeat(3000)) }])).toEqual(['ok']);
    expect(await refusal([{ type: 'section', text: mrkdwn('x'.repeat(3001)) }])).toEqual([
      'invalid_blocks',
      '[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]',
    ]);
    expect(await refusal([{ type: 'section', fields: [mrkdwn('ok'), mrkdwn('y'.repeat(2001))] }])).toEqual([
      'invalid_blocks',
      '[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/fields/1/text]',
    ]);
    const eleven = Array.from({ length: 11 }, () => mrkdwn('f'));
    expect(await refusal([{ type: 'section', fields: eleven }])).toEqual([
      'invalid_blocks',
      '[ERROR] no more than 10 items allowed [json-pointer:/blocks/0/fields]',
    ]);
    expect(await refusal([{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }])).toEqual([
      'invalid_blocks',
      '[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]',
    ]);
    expect(await refusal([{ type: 'actions', elements: [button('b'.repeat(76))] }])).toEqual([
      'invalid_blocks',
      '[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]',
    ]);
    expect(
      await refusal([{ type: 'actions', elements: [button('b', 'v'.repeat(2001))] }], 'chat.postEphemeral'),
    ).toEqual([
      'invalid_blocks',
      '[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]',
    ]);
    expect(
      await refusal([{ type: 'actions', elements: Array.from({ length: 26 }, () => button('b')) }]),
    ).toEqual(['invalid_blocks', '[ERROR] no more than 25 items allowed [json-pointer:/blocks/0/elements]']);
    expect(
      await refusal([{ type: 'context', elements: Array.from({ length: 11 }, () => mrkdwn('c')) }]),
    ).toEqual(['invalid_blocks', '[ERROR] no more than 10 items allowed [json-pointer:/blocks/0/elements]']);
    expect(await refusal([{ type: 'section', text: mrkdwn('') }])).toEqual([
      'invalid_blocks',
      '[ERROR] must be more than 0 characters [json-pointer:/blocks/0/text/text]',
    ]);
    const fiftyOne = Array.from({ length: 51 }, () => ({ type: 'divider' }));
    expect((await refusal(fiftyOne))[0]).toBe('invalid_blocks');
    expect(await slackError(client.chat.postMessage({ channel: 'C0OPS', text: 't'.repeat(40_001) }))).toBe(
      'msg_too_long',
    );
    expect(slack.messages()).toHaveLength(1);
  });

  it('updates messages, keeps their history and rejects unknown ts', async () => {
    const posted = await client.chat.postMessage({ channel: 'C0OPS', text: 'pending' });
    const updated = await client.chat.update({ channel: 'C0OPS', ts: posted.ts ?? '', text: 'approved' });
    expect(updated).toMatchObject({ ok: true, channel: 'C0OPS', ts: posted.ts, text: 'approved' });
    const [message] = slack.messages('C0OPS');
    expect(message?.text).toBe('approved');
    expect(message?.versions.map((v) => v.text)).toEqual(['pending', 'approved']);
    const missing = client.chat.update({ channel: 'C0OPS', ts: '1.000001', text: 'x' });
    expect(await slackError(missing)).toBe('message_not_found');
  });

  it('records ephemeral messages', async () => {
    const res = await client.chat.postEphemeral({ channel: 'C0OPS', user: 'U0ALICE', text: 'only you' });
    expect(res.ok).toBe(true);
    expect(res.message_ts).toMatch(/^\d+\.\d{6}$/);
    expect(slack.ephemerals).toEqual([
      expect.objectContaining({
        channel: 'C0OPS',
        user: 'U0ALICE',
        text: 'only you',
        message_ts: res.message_ts,
      }),
    ]);
    expect(slack.messages()).toHaveLength(0);
  });
});

describe('slack fake: users and usergroups', () => {
  it('answers users.info and user_not_found', async () => {
    slack.addUser({ id: 'U0ALICE', name: 'alice', real_name: 'Alice Liddell', display_name: 'al' });
    const res = await client.users.info({ user: 'U0ALICE' });
    expect(res.user).toMatchObject({
      id: 'U0ALICE',
      name: 'alice',
      real_name: 'Alice Liddell',
      deleted: false,
      profile: { display_name: 'al', real_name: 'Alice Liddell' },
    });
    expect(await slackError(client.users.info({ user: 'U0NOBODY' }))).toBe('user_not_found');
  });

  it('shows profile.email only to a token with users:read.email, as users.info documents', async () => {
    const alice = { id: 'U0ALICE', name: 'alice', email: 'alice@corp.example' };
    slack.addUser(alice);
    expect((await client.users.info({ user: alice.id })).user?.profile?.email).toBe(alice.email);

    await restart({ botScopes: ['users:read'] });
    slack.addUser(alice);
    const res = await client.users.info({ user: alice.id });
    expect(res.user?.profile).toBeDefined();
    expect(res.user?.profile?.email).toBeUndefined();

    await restart({ botScopes: ['chat:write'] });
    slack.addUser(alice);
    expect(await slackError(client.users.info({ user: alice.id }))).toBe('missing_scope');
  });

  it('lists usergroups with and without users and rejects unknown subteams', async () => {
    slack.addUsergroup({ id: 'S0SRE', handle: 'sre', name: 'SRE', users: ['U0ALICE', 'U0BOB'] });
    const withUsers = await client.usergroups.list({ include_users: true });
    expect(withUsers.usergroups).toEqual([
      expect.objectContaining({
        id: 'S0SRE',
        handle: 'sre',
        name: 'SRE',
        users: ['U0ALICE', 'U0BOB'],
        user_count: 2,
      }),
    ]);
    const without = await client.usergroups.list();
    expect(without.usergroups?.[0]).not.toHaveProperty('users');
    const members = await client.usergroups.users.list({ usergroup: 'S0SRE' });
    expect(members.users).toEqual(['U0ALICE', 'U0BOB']);
    expect(await slackError(client.usergroups.users.list({ usergroup: 'S0NONE' }))).toBe('no_such_subteam');
  });
});

describe('slack fake: conversations', () => {
  it('creates channels and validates names like Slack', async () => {
    const res = await client.conversations.create({ name: 'inc-42-api-down' });
    expect(res.channel).toMatchObject({
      name: 'inc-42-api-down',
      is_channel: true,
      is_archived: false,
      creator: SLACK_FAKE_BOT.userId,
      topic: { value: '' },
    });
    expect(res.channel?.id).toMatch(/^C[A-Z0-9]+$/);
    expect(res.channel?.created).toEqual(expect.any(Number));
    expect(await slackError(client.conversations.create({ name: 'Has Spaces' }))).toBe(
      'invalid_name_specials',
    );
    expect(await slackError(client.conversations.create({ name: 'a'.repeat(81) }))).toBe(
      'invalid_name_maxlength',
    );
    expect(await slackError(client.conversations.create({ name: 'inc-42-api-down' }))).toBe('name_taken');
    expect(slack.channels().map((c) => c.name)).toEqual(['inc-42-api-down']);
  });

  it('invites users and reports already_in_channel, user_not_found and is_archived', async () => {
    slack.addUser({ id: 'U0ALICE', name: 'alice' });
    slack.addUser({ id: 'U0BOB', name: 'bob' });
    const { channel } = await client.conversations.create({ name: 'inc-1' });
    const id = channel?.id ?? '';
    const res = await client.conversations.invite({ channel: id, users: 'U0ALICE,U0BOB' });
    expect(res.channel?.id).toBe(id);
    expect(slack.channels()[0]?.members).toEqual([SLACK_FAKE_BOT.userId, 'U0ALICE', 'U0BOB']);
    expect(await slackError(client.conversations.invite({ channel: id, users: 'U0ALICE' }))).toBe(
      'already_in_channel',
    );
    expect(await slackError(client.conversations.invite({ channel: id, users: 'U0GHOST' }))).toBe(
      'user_not_found',
    );
    await client.conversations.archive({ channel: id });
    expect(await slackError(client.conversations.invite({ channel: id, users: 'U0ALICE' }))).toBe(
      'is_archived',
    );
  });

  it('sets topics, archives and unarchives with already_archived / not_archived', async () => {
    const { channel } = await client.conversations.create({ name: 'inc-2' });
    const id = channel?.id ?? '';
    const topic = await client.conversations.setTopic({ channel: id, topic: 'API down — sev1' });
    expect(topic.channel?.topic?.value).toBe('API down — sev1');
    expect(await slackError(client.conversations.unarchive({ channel: id }))).toBe('not_archived');
    expect((await client.conversations.archive({ channel: id })).ok).toBe(true);
    expect(await slackError(client.conversations.archive({ channel: id }))).toBe('already_archived');
    const info = await client.conversations.info({ channel: id });
    expect(info.channel).toMatchObject({ id, is_archived: true, topic: { value: 'API down — sev1' } });
    expect(slack.channels()[0]).toMatchObject({ is_archived: true, topic: 'API down — sev1' });
    await client.conversations.unarchive({ channel: id });
    expect(slack.channels()[0]?.is_archived).toBe(false);
    expect(await slackError(client.conversations.info({ channel: 'nope' }))).toBe('channel_not_found');
  });

  it('joins channels, warning when already a member, and pages members', async () => {
    const general = slack.addChannel({ id: 'C0GENERAL', name: 'general', members: ['U1', 'U2', 'U3'] });
    const joined = await client.conversations.join({ channel: general.id });
    expect(joined.channel?.is_member).toBe(true);
    expect(joined.warning).toBeUndefined();
    const again = await client.conversations.join({ channel: general.id });
    expect(again.warning).toBe('already_in_channel');
    const first = await client.conversations.members({ channel: general.id, limit: 3 });
    expect(first.members).toEqual(['U1', 'U2', 'U3']);
    const next = first.response_metadata?.next_cursor ?? '';
    expect(next).not.toBe('');
    const second = await client.conversations.members({ channel: general.id, limit: 3, cursor: next });
    expect(second.members).toEqual([SLACK_FAKE_BOT.userId]);
    expect(second.response_metadata?.next_cursor).toBe('');
  });

  it('lists channels with cursor pagination, exclude_archived and types', async () => {
    for (let i = 0; i < 5; i++) slack.addChannel({ name: `c${i}` });
    slack.addChannel({ name: 'archived', is_archived: true });
    slack.addChannel({ name: 'secret', is_private: true });
    const pages: ConversationsListResponse[] = [];
    for await (const page of client.paginate('conversations.list', { limit: 2 })) {
      pages.push(page as ConversationsListResponse);
    }
    expect(pages.map((p) => p.channels?.map((c) => c.name))).toEqual([
      ['c0', 'c1'],
      ['c2', 'c3'],
      ['c4', 'archived'],
    ]);
    expect(pages.at(-1)?.response_metadata?.next_cursor).toBe('');
    const active = await client.conversations.list({ exclude_archived: true });
    expect(active.channels?.map((c) => c.name)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    const privateOnly = await client.conversations.list({ types: 'private_channel' });
    expect(privateOnly.channels?.map((c) => c.name)).toEqual(['secret']);
    expect(await slackError(client.conversations.list({ cursor: 'bogus' }))).toBe('invalid_cursor');
  });
});

describe('slack fake: rate limits and injected failures', () => {
  it('answers rateLimit() with 429 and Retry-After, seen by the WebClient as a rate-limited error', async () => {
    slack.rateLimit({ method: 'chat.postMessage', times: 1, retryAfterSeconds: 7 });
    const err = await client.chat.postMessage({ channel: 'C0OPS', text: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 7 });
    const ok = await client.chat.postMessage({ channel: 'C0OPS', text: 'x' });
    expect(ok.ok).toBe(true);
    expect(slack.calls.map((c) => c.status)).toEqual([429, 200]);
  });

  it('enforces configured per-minute and per-channel-per-second limits', async () => {
    await restart({
      limits: { 'conversations.create': { perMinute: 2 }, 'chat.postMessage': { perChannelPerSecond: 1 } },
    });
    await client.conversations.create({ name: 'a' });
    await client.conversations.create({ name: 'b' });
    const third = await client.conversations.create({ name: 'c' }).catch((e: unknown) => e);
    expect(third).toMatchObject({ code: ErrorCode.RateLimitedError });
    expect((third as { retryAfter: number }).retryAfter).toBeGreaterThanOrEqual(1);
    expect((third as { retryAfter: number }).retryAfter).toBeLessThanOrEqual(60);

    await client.chat.postMessage({ channel: 'C0ONE', text: '1' });
    const burst = await client.chat.postMessage({ channel: 'C0ONE', text: '2' }).catch((e: unknown) => e);
    expect(burst).toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 1 });
    expect((await client.chat.postMessage({ channel: 'C0TWO', text: '1' })).ok).toBe(true);
  });

  it('fails the next calls of a method with failNext()', async () => {
    slack.failNext({ method: 'conversations.create', error: 'restricted_action', times: 2 });
    expect(await slackError(client.conversations.create({ name: 'x' }))).toBe('restricted_action');
    expect(await slackError(client.conversations.create({ name: 'x' }))).toBe('restricted_action');
    expect((await client.conversations.create({ name: 'x' })).ok).toBe(true);
  });

  it('computes per-method counts and the busiest windows', async () => {
    for (let i = 0; i < 3; i++) await client.chat.postMessage({ channel: 'C0A', text: String(i) });
    await client.chat.postMessage({ channel: 'C0B', text: 'b' });
    await client.auth.test();
    const stats = slack.stats();
    expect(stats.perMethod).toEqual({ 'chat.postMessage': 4, 'auth.test': 1 });
    expect(stats.maxPerMinute).toEqual({ 'chat.postMessage': 4, 'auth.test': 1 });
    expect(stats.maxPerChannelPerSecond).toBe(3);
  });

  it('waitFor resolves with the first truthy value and times out otherwise', async () => {
    setTimeout(() => void client.chat.postMessage({ channel: 'C0OPS', text: 'later' }), 50);
    const message = await slack.waitFor(() => slack.messages('C0OPS')[0]);
    expect(message.text).toBe('later');
    await expect(slack.waitFor(() => false, 100)).rejects.toThrow(/timed out after 100 ms/);
  });
});

describe('slack signing helpers', () => {
  const secret = 'shh-signing-secret';

  it('signs with v0 HMAC-SHA256 over "v0:<ts>:<body>", as Bolt verifies', () => {
    const body = slashCommandBody({ text: 'deploy api 1.2.3 to prod' });
    const headers = signSlackRequest(secret, body, 1_700_000_000);
    const expected = createHmac('sha256', secret).update(`v0:1700000000:${body}`).digest('hex');
    expect(headers).toEqual({
      'x-slack-signature': `v0=${expected}`,
      'x-slack-request-timestamp': '1700000000',
      'content-type': 'application/x-www-form-urlencoded',
    });
    const now = signSlackRequest(secret, body);
    const verify = (s: string): boolean =>
      isValidSlackRequest({
        signingSecret: s,
        body,
        headers: {
          'x-slack-signature': now['x-slack-signature'],
          'x-slack-request-timestamp': Number(now['x-slack-request-timestamp']),
        },
      });
    expect(verify(secret)).toBe(true);
    expect(verify('other-secret')).toBe(false);
  });

  it('builds slash command bodies with realistic fields and unique trigger ids', () => {
    const a = new URLSearchParams(slashCommandBody({ text: 'status', channel_id: 'C0X' }));
    const b = new URLSearchParams(slashCommandBody());
    expect(Object.fromEntries(a)).toMatchObject({
      command: '/ops',
      text: 'status',
      channel_id: 'C0X',
      team_id: 'T0TEST',
      user_id: expect.stringMatching(/^U/),
      api_app_id: SLACK_FAKE_BOT.appId,
      is_enterprise_install: 'false',
      response_url: expect.stringMatching(/^https:\/\//),
    });
    for (const field of ['token', 'team_domain', 'channel_name', 'user_name'])
      expect(a.get(field)).toBeTruthy();
    expect(a.get('trigger_id')).toMatch(/^\d+\.\d+\.[0-9a-f]{32}$/);
    expect(a.get('trigger_id')).not.toBe(b.get('trigger_id'));
  });

  it('encodes interaction payloads as a single payload form field', () => {
    const payload = blockActionPayload({
      actionId: 'approve',
      value: 'req-1',
      channel: 'C0OPS',
      messageTs: '1.2',
    });
    const decoded = new URLSearchParams(interactionBody(payload)).get('payload');
    expect(JSON.parse(decoded ?? '')).toEqual(payload);
    expect(payload).toMatchObject({
      type: 'block_actions',
      container: { type: 'message', message_ts: '1.2', channel_id: 'C0OPS', is_ephemeral: false },
      actions: [{ action_id: 'approve', value: 'req-1', type: 'button' }],
    });
  });
});

describe('slack fake with a real Bolt app', () => {
  const secret = 'bolt-signing-secret';
  let app: App;
  let eventsUrl: string;

  beforeEach(async () => {
    app = new App({
      token: 'xoxb-test',
      signingSecret: secret,
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: slack.url, retryConfig: { retries: 0 } },
    });
    app.command('/ops', async ({ command, ack, respond, client: bolt }) => {
      await ack();
      await respond({ response_type: 'ephemeral', text: `working on: ${command.text}` });
      const blocks = [
        {
          type: 'actions',
          elements: [
            {
              type: 'button',
              action_id: 'approve',
              text: { type: 'plain_text', text: 'Approve' },
              value: command.text,
            },
          ],
        },
      ];
      await bolt.chat.postMessage({ channel: command.channel_id, text: 'approve?', blocks });
    });
    app.action('approve', async ({ ack, body, client: bolt }) => {
      await ack();
      if (body.type !== 'block_actions' || !body.channel || !body.message) return;
      await bolt.chat.update({
        channel: body.channel.id,
        ts: body.message.ts,
        text: `approved by ${body.user.id}`,
      });
    });
    const server = await app.start(0);
    eventsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
  });

  afterEach(async () => {
    await app.stop();
  });

  it('round-trips a signed slash command and a button click through Bolt and the fake', async () => {
    const responseUrl = slack.responseUrl('cmd-1');
    const body = slashCommandBody({ text: 'deploy api', channel_id: 'C0OPS', response_url: responseUrl });
    const res = await postSigned(eventsUrl, body, secret);
    expect(res.status).toBe(200);
    const posted = await slack.waitFor(() => slack.messages('C0OPS')[0]);
    expect(posted.text).toBe('approve?');
    expect(slack.responses).toEqual([
      {
        id: 'cmd-1',
        body: { response_type: 'ephemeral', text: 'working on: deploy api' },
        at: expect.any(Number),
      },
    ]);

    const click = blockActionPayload({
      actionId: 'approve',
      channel: 'C0OPS',
      messageTs: posted.ts,
      user: 'U0BOB',
    });
    expect((await postSigned(eventsUrl, interactionBody(click), secret)).status).toBe(200);
    await slack.waitFor(() => posted.versions.length === 2);
    expect(posted.text).toBe('approved by U0BOB');
  });

  it('is rejected by Bolt when the signature or timestamp is wrong', async () => {
    const body = slashCommandBody({ text: 'deploy api' });
    const tampered = await postSigned(eventsUrl, body, secret, {
      headers: { 'x-slack-signature': 'v0=deadbeef' },
    });
    expect(tampered.status).toBe(401);
    const stale = await postSigned(eventsUrl, body, secret, {
      timestamp: Math.floor(Date.now() / 1000) - 600,
    });
    expect(stale.status).toBe(401);
    const wrongSecret = await postSigned(eventsUrl, body, 'not-the-secret');
    expect(wrongSecret.status).toBe(401);
    expect(slack.calls.filter((c) => c.method !== 'auth.test')).toEqual([]);
  });
});
