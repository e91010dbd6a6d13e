import { describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { message } from '../../src/core/message.js';
import type { CommandRequest } from '../../src/engine/accept-command.js';
import { createLogger } from '../../src/logger.js';
import { createSlackApp } from '../../src/slack/app.js';
import { slashCommandBody } from '../fakes/slack-signing.js';

/**
 * Socket Mode has no HTTP signature gate in front of Bolt: its receiver hands each envelope's payload
 * to App.processEvent, as done here. The workspace check must hold on that path too.
 */
describe('the workspace check inside Bolt (the Socket Mode path)', () => {
  const accepted: CommandRequest[] = [];
  const env = readEnv({
    SLACK_BOT_TOKEN: 'xoxb-middleware',
    SLACK_SIGNING_SECRET: 'middleware-secret',
    SLACK_TEAM_ID: 'T0TEST',
    SLACK_APP_ID: 'A0OPSBOT',
  });
  const slack = createSlackApp({
    env: { ...env, SLACK_BOT_TOKEN: 'xoxb-middleware' },
    log: createLogger('silent'),
    accept: async (request) => {
      accepted.push(request);
      return { kind: 'reply', message: message('ok') };
    },
    buttons: [],
  });

  async function deliver(fields: Record<string, string>): Promise<unknown[]> {
    const acks: unknown[] = [];
    const body = Object.fromEntries(new URLSearchParams(slashCommandBody({ text: 'help', ...fields })));
    await slack.app.processEvent({
      body,
      ack: async (response?: unknown) => {
        acks.push(response ?? null);
      },
    });
    return acks;
  }

  it('acknowledges and drops a command from another workspace or app, and serves its own', async () => {
    expect(await deliver({ team_id: 'T0EVIL' })).toEqual([null]);
    expect(await deliver({ api_app_id: 'A0OTHER' })).toEqual([null]);
    expect(accepted).toHaveLength(0);
    const own = await deliver({ team_id: 'T0TEST', api_app_id: 'A0OPSBOT' });
    expect(accepted).toHaveLength(1);
    expect(own).toHaveLength(1);
    expect(own[0]).toMatchObject({ response_type: 'ephemeral', text: 'ok' });
  });
});
