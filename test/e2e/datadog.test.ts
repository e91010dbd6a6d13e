import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertFixture, INCIDENT_REPO, postWebhook, WEBHOOK_TOKEN } from '../helpers/alerts.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { AUDIT_REPO, startWorld, USERS, type World } from '../helpers/world.js';

const CONFIG = `
environments:
  prod: { context: prod, namespace: apps, protected: true }
roles:
  oncall:
    members: [${USERS.oncall.id}]
    can:
      - { actions: [rollback, restart, status], environments: [prod] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
incidents:
  repo: ${INCIDENT_REPO}
  channelPrefix: inc
  testChannel: "#ops"
  routes:
    - { match: { team: payments }, invite: [${USERS.oncall.id}] }
`;

/** Datadog monitor notifications (Webhooks integration) through the bot process, as Datadog sends them. */
describe('incidents from Datadog monitors', () => {
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

  const incChannels = () => world.slack.channels().filter((c) => c.name.startsWith('inc-'));
  const issues = () => world.github.issues(INCIDENT_REPO);

  it('refuses a delivery without the bearer token, and a body without the default fields', async () => {
    const triggered = alertFixture('datadog-triggered.json');
    expect((await postWebhook(bot.url, 'datadog', triggered, { token: null })).status).toBe(401);
    expect((await postWebhook(bot.url, 'datadog', triggered, { token: 'wrong' })).status).toBe(401);
    const bad = await postWebhook(bot.url, 'datadog', { title: 'no id' });
    expect(bad.status).toBe(400);
    expect(String(bad.body.reason)).toContain('id');
  });

  it('opens one channel and one issue for a Triggered monitor, however often Datadog retries it', async () => {
    const triggered = alertFixture('datadog-triggered.json');
    const first = await postWebhook(bot.url, 'datadog', triggered);
    expect([first.status, first.body.status]).toEqual([202, 'accepted']);
    expect((await postWebhook(bot.url, 'datadog', triggered)).body.status).toBe('duplicate');

    const issue = await world.github.waitFor(() => issues()[0], 20_000);
    expect(issue.title).toBe('[critical] API 5xx rate is high');
    expect(issue.body).toContain('**Source:** datadog');
    const [channel] = incChannels();
    expect(incChannels()).toHaveLength(1);
    expect(channel?.name).toMatch(/^inc-\d{8}-api-5xx-rate-is-high$/);
    expect(channel?.members).toContain(USERS.oncall.id);
    const summary = await world.slack.waitFor(() =>
      world.slack.messages(channel?.id).find((m) => m.text?.startsWith('Incident: API 5xx rate is high')),
    );
    const blocks = JSON.stringify(summary.blocks);
    expect(blocks).toContain('source datadog');
    expect(blocks).toContain('https://app.datadoghq.com/event/event?id=7709362217484218375');
    // env:prod and deployment:api tags point at a deployment in a known environment.
    for (const label of ['Rollback api', 'Restart api', 'Status api']) expect(blocks).toContain(label);
    expect(issues()).toHaveLength(1);
  });

  it('notes a test notification in the test channel and opens no incident', async () => {
    const test = await postWebhook(bot.url, 'datadog', alertFixture('datadog-test-notification.json'));
    expect([test.status, test.body.status]).toEqual([202, 'test']);
    const note = await world.slack.waitFor(
      () => world.slack.messages('COPS').find((m) => m.text?.includes('Datadog test notification')),
      10_000,
    );
    expect(note.text).toBe(
      'Datadog test notification received from monitor "API 5xx rate is high"; the webhook works and no incident was opened.',
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(incChannels()).toHaveLength(1);
    expect(issues()).toHaveLength(1);
  });

  it('resolves the incident on Recovered: issue closed, channel told', async () => {
    const channel = incChannels()[0]!;
    const recovered = await postWebhook(bot.url, 'datadog', alertFixture('datadog-recovered.json'));
    expect(recovered.body.status).toBe('accepted');
    const closed = await world.github.waitFor(() => issues().find((i) => i.state === 'closed'), 20_000);
    expect(closed.labels).toContain('status:resolved');
    await world.slack.waitFor(
      () => world.slack.messages(channel.id).find((m) => m.text?.includes('*Resolved* after')),
      20_000,
    );
    expect(incChannels()).toHaveLength(1);
    expect(issues()).toHaveLength(1);
  });
});
