import { LogLevel } from '@slack/bolt';
import { WebClient } from '@slack/web-api';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackChat } from '../../src/slack/chat.js';
import { type SlackFake, startSlackFake } from '../fakes/slack.js';

const MAX_AGE = 5 * 60_000;

describe('user-group memberships from Slack', () => {
  let slack: SlackFake;
  let now = 1_790_000_000_000;
  let chat: SlackChat;

  beforeAll(async () => {
    slack = await startSlackFake({ botToken: 'xoxb-groups' });
    slack.addUsergroup({ id: 'S0SRE', handle: 'sre-oncall', name: 'SRE', users: ['UBOB'] });
    const client = new WebClient('xoxb-groups', {
      slackApiUrl: slack.url,
      retryConfig: { retries: 0 },
      logLevel: LogLevel.ERROR,
    });
    chat = new SlackChat(client, pino({ level: 'silent' }), { groupsMaxAgeMs: MAX_AGE, now: () => now });
  });

  afterAll(async () => {
    await slack?.close();
  });

  it('are used while younger than the maximum age, even when a refresh fails', async () => {
    expect([...(await chat.groupsOf('UBOB'))]).toEqual(['sre-oncall']);
    expect(chat.groupsUnavailable()).toBeUndefined();
    slack.failNext({ method: 'usergroups.list', error: 'internal_error', times: 1 });
    now += 2 * 60_000;
    expect([...(await chat.groupsOf('UBOB'))]).toEqual(['sre-oncall']);
    await chat.refreshGroups();
    expect(chat.groupsUnavailable()).toBeUndefined();
  });

  it('are dropped past the maximum age when Slack keeps failing, and come back with the next good list', async () => {
    const calls = () => slack.calls.filter((c) => c.method === 'usergroups.list').length;
    const before = calls();
    slack.failNext({ method: 'usergroups.list', error: 'internal_error', times: 3 });
    now += MAX_AGE + 1;
    expect([...(await chat.groupsOf('UBOB'))]).toEqual([]);
    expect(chat.groupsUnavailable()).toMatch(/your Slack user groups could not be checked/);
    expect(calls()).toBeGreaterThan(before);
    // Still failing a minute later: still none, never the old list.
    now += 60_000;
    expect([...(await chat.groupsOf('UBOB'))]).toEqual([]);
    // Slack answers again.
    await chat.refreshGroups();
    expect([...(await chat.groupsOf('UBOB'))]).toEqual(['sre-oncall']);
    expect(chat.groupsUnavailable()).toBeUndefined();
  });

  it('are dropped when the very first load fails', async () => {
    const fresh = new SlackChat(
      new WebClient('xoxb-groups', {
        slackApiUrl: slack.url,
        retryConfig: { retries: 0 },
        logLevel: LogLevel.ERROR,
      }),
      pino({ level: 'silent' }),
      { now: () => now },
    );
    slack.failNext({ method: 'usergroups.list', error: 'internal_error', times: 1 });
    expect([...(await fresh.groupsOf('UBOB'))]).toEqual([]);
    expect(fresh.groupsUnavailable()).toMatch(/could not be checked/);
  });
});
