import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockActionPayload, interactionBody, postSigned, slashCommandBody } from '../fakes/slack-signing.js';
import { alertFixture, INCIDENT_REPO, postWebhook, WEBHOOK_TOKEN } from '../helpers/alerts.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { AUDIT_REPO, SIGNING_SECRET, startWorld, USERS, type World } from '../helpers/world.js';

/** What real senders put on the wire, beyond what our own helpers send. One bot process for the file. */
const CONFIG = `
environments:
  staging: { context: staging, namespace: apps }
roles:
  oncall:
    members: [${USERS.oncall.id}]
    can:
      - { actions: [rollback, restart, scale, status, history], environments: [staging] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
incidents:
  repo: ${INCIDENT_REPO}
  channelPrefix: inc
`;

describe('real-world request shapes', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG });
    world.github.createRepo(INCIDENT_REPO, { files: { 'README.md': '# incidents\n' } });
    bot = await startBotProcess({ ...world.env, OPSBOT_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  // RFC 9110 §8.3: a media type may carry parameters; HTTP clients (and proxies) add `charset`.
  describe('Content-Type with a charset parameter', () => {
    it('accepts a slash command sent as application/x-www-form-urlencoded; charset=utf-8', async () => {
      const body = slashCommandBody({
        text: 'status api --env staging',
        user_id: USERS.oncall.id,
        user_name: USERS.oncall.name,
        channel_id: 'COPS',
        response_url: world.slack.responseUrl(),
      });
      const res = await postSigned(`${bot.url}/slack/events`, body, SIGNING_SECRET, {
        contentType: 'application/x-www-form-urlencoded; charset=utf-8',
      });
      expect(res.status).toBe(200);
      const reply = (await res.json()) as { text?: string };
      expect(reply.text).toMatch(/^Accepted: status api in staging/);
    });

    it('accepts a button click with an upper-case media type and a quoted charset', async () => {
      const payload = blockActionPayload({
        user: USERS.oncall.id,
        channel: 'COPS',
        actionId: 'approval.approve',
        value: '0'.repeat(32),
        responseUrl: world.slack.responseUrl(),
      });
      const res = await postSigned(`${bot.url}/slack/events`, interactionBody(payload), SIGNING_SECRET, {
        contentType: 'Application/X-WWW-Form-Urlencoded; Charset="UTF-8"',
      });
      expect(res.status).toBe(200);
      const refused = await world.slack.waitFor(() =>
        world.slack.ephemerals.find((e) => e.user === USERS.oncall.id && e.text?.startsWith('Refused')),
      );
      expect(refused.text).toBe('Refused: this approval request is unknown.');
    });

    it('accepts alert webhooks sent as application/json; charset=utf-8', async () => {
      const res = await postWebhook(bot.url, 'alertmanager', alertFixture('alertmanager-firing.json'), {
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expect(res.status).toBe(202);
      expect(res.body.status).toBe('accepted');
    });
  });
});
