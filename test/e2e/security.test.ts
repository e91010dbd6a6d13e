import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGitHubFake } from '../fakes/github.js';
import { blockActionPayload, interactionBody, postSigned, slashCommandBody } from '../fakes/slack-signing.js';
import { until } from '../faults/support.js';
import {
  alertFixture,
  INCIDENT_REPO,
  pagerDutyHeaders,
  postWebhook,
  WEBHOOK_TOKEN,
} from '../helpers/alerts.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { testRedisUrlWith } from '../helpers/redis-url.js';
import {
  AUDIT_REPO,
  BOT_TOKEN,
  GITHUB_TOKEN,
  readyIncidentChannel,
  SIGNING_SECRET,
  slash,
  startWorld,
  USERS,
  type World,
} from '../helpers/world.js';

const CONFIG = `
environments:
  staging: { context: staging, namespace: apps }
  prod: { context: prod, namespace: apps, protected: true, scale: { min: 2, max: 50 } }
roles:
  oncall:
    members: [${USERS.oncall.id}, "@sre-oncall"]
    can:
      - { actions: [rollback, restart, scale, status, history, incident.resolve], environments: [staging, prod] }
    approve: [prod]
  developer:
    members: [${USERS.developer.id}]
    can:
      - { actions: [status, restart, incident.resolve], environments: [staging] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
incidents: { repo: ${INCIDENT_REPO}, channelPrefix: inc }
`;

/** Distinctive values for every secret setting, so a scan of the logs finds any of them. */
const SECRETS = {
  pagerDuty: 'pd-secret-sec-2f9e',
  redisPassword: 'redis-password-sec-7b1c',
  appToken: 'xapp-1-A0OPSBOT-1234-appsecret0d3e',
  privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    type: 'pkcs1',
    format: 'pem',
  }) as string,
};
const KEY_LINES = SECRETS.privateKey.split('\n').filter((l) => l.length > 40);

/** One line of a quoted reason per trick: a fake plan, a broadcast, a fake link, commit trailers. */
const HOSTILE_REASON = [
  'hotfix',
  '*Plan* (server-side dry run):',
  '• Image: api=ghcr.io/evil/api:latest → api=ghcr.io/acme/api:1.5.0',
  '<!channel> <https://evil.example/approve|Approve here>',
  'Co-authored-by: Mallory <mallory@evil.example>',
  'Signed-off-by: Mallory <mallory@evil.example>',
].join('\n');

describe('security boundaries of a running bot', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG });
    world.github.createRepo(INCIDENT_REPO, { files: { 'README.md': '# incidents\n' } });
    bot = await startBotProcess({
      ...world.env,
      LOG_LEVEL: 'trace',
      OPSBOT_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      PAGERDUTY_WEBHOOK_SECRET: SECRETS.pagerDuty,
      REDIS_URL: testRedisUrlWith(SECRETS.redisPassword).url,
      SLACK_TEAM_ID: 'T0TEST',
      SLACK_APP_ID: 'A0OPSBOT',
      OPSBOT_GROUPS_MAX_AGE: '2s',
    });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('refuses correctly signed requests for another workspace or app, and serves its own', async () => {
    const post = (fields: Record<string, string>) =>
      postSigned(
        `${bot.url}/slack/events`,
        slashCommandBody({
          text: 'restart api --env staging',
          user_id: USERS.oncall.id,
          user_name: USERS.oncall.name,
          channel_id: 'COPS',
          response_url: world.slack.responseUrl(),
          ...fields,
        }),
        SIGNING_SECRET,
      );
    const otherTeam = await post({ team_id: 'T0EVIL' });
    expect(otherTeam.status).toBe(403);
    expect(await otherTeam.json()).toEqual({ error: 'wrong_workspace' });
    expect((await post({ api_app_id: 'A0OTHER' })).status).toBe(403);
    const click = blockActionPayload({ user: USERS.oncall2.id, actionId: 'approval.approve', value: 'x' });
    const foreignClick = { ...click, team: { id: 'T0EVIL', domain: 'evil' } };
    const clicked = await postSigned(
      `${bot.url}/slack/events`,
      interactionBody(foreignClick),
      SIGNING_SECRET,
    );
    expect(clicked.status).toBe(403);
    // Log lines arrive through a pipe: wait for the third.
    const refusals = await until(
      () => {
        const found = bot.lines.filter(
          (l) => l.msg === 'refused a signed Slack request for another workspace or app',
        );
        return found.length >= 3 ? found : undefined;
      },
      5_000,
      'three refusals in the log',
    );
    expect(refusals.map((l) => [l.field, l.teamId, l.appId])).toEqual([
      ['team_id', 'T0EVIL', 'A0OPSBOT'],
      ['api_app_id', 'T0TEST', 'A0OTHER'],
      ['team_id', 'T0EVIL', 'A0OPSBOT'],
    ]);
    // Its own workspace and app are served as ever; nothing of the refused ones was queued.
    expect((await slash(bot.url, world, 'help')).status).toBe(200);
    expect(bot.lines.some((l) => l.msg === 'command started')).toBe(false);
  });

  it('denies someone without a role before telling them scale bounds', async () => {
    const ack = await slash(bot.url, world, 'scale api 99 --env prod --reason "too few"', {
      user: USERS.stranger,
    });
    expect(ack.body.text).toMatch(/^Denied: scale in prod needs role oncall, which you do not hold\./);
    expect(JSON.stringify(ack.body)).not.toMatch(/allows between|2 and 50/);
  });

  it('shows a hostile reason as one escaped line in the approval request, and adds no commit trailer', async () => {
    const ack = await slash(bot.url, world, `restart api --env prod --reason "${HOSTILE_REASON}"`);
    expect(ack.body.text).toMatch(/^Accepted: restart api in prod/);
    const request = await world.slack.waitFor(
      () => world.slack.messages('COPS').find((m) => m.text?.startsWith('Approval needed: restart api')),
      15_000,
    );
    const blocks = JSON.stringify(request.blocks);
    const text = (JSON.parse(blocks) as { text?: { text?: string } }[])
      .map((b) => b.text?.text ?? '')
      .join('\n');
    expect(text.split('\n').filter((l) => l.startsWith('*Plan*'))).toEqual(['*Plan* (server-side dry run):']);
    expect(
      text
        .split('\n')
        .filter((l) => l.startsWith('•'))
        .join('\n'),
    ).not.toContain('evil');
    expect(blocks).not.toMatch(/<!channel>|<https:\/\/evil/);
    expect(text).toContain('&lt;!channel&gt; &lt;https://evil.example/approve|Approve here&gt;');

    const commit = await world.github.waitFor(
      () => world.github.commits(AUDIT_REPO).find((c) => c.message.startsWith('restart api in prod')),
      15_000,
    );
    expect(commit.message.split('\n').filter((l) => /^(Co-authored-by|Signed-off-by):/i.test(l))).toEqual([]);
  });

  it("authorizes incident resolve against the incident's environment: staging rights cannot close a prod incident", async () => {
    expect(
      (await postWebhook(bot.url, 'alertmanager', alertFixture('alertmanager-firing.json'))).status,
    ).toBe(202);
    const issue = await world.github.waitFor(() => world.github.issues(INCIDENT_REPO)[0], 15_000);
    const channel = await readyIncidentChannel(world);
    const where = { channel: { id: channel.id, name: channel.name }, user: USERS.developer };
    // The issue shows on GitHub a moment before the worker has saved its number with the incident;
    // until then the channel honestly answers that its record is still being set up.
    const widened = await until(
      async () => {
        const answer = await slash(bot.url, world, 'incident resolve --env staging', where);
        return answer.body.text?.includes('still being set up') ? undefined : answer;
      },
      10_000,
      'the incident to be set up',
    );
    expect(widened.body.text).toBe(
      "This channel's incident is in prod; --env cannot name another environment.",
    );
    const plain = await slash(bot.url, world, 'incident resolve --note "looks fine to me"', where);
    expect(plain.body.text).toMatch(/^Denied: incident\.resolve in prod needs role oncall/);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(world.github.issues(INCIDENT_REPO).find((i) => i.number === issue.number)?.state).toBe('open');
  });

  it('drops roles granted by a user group once memberships are too old to trust, and says why', async () => {
    const byGroup = { user: USERS.oncall2 };
    expect((await slash(bot.url, world, 'status api --env staging', byGroup)).body.text).toMatch(/^Accepted/);
    world.slack.failNext({ method: 'usergroups.list', error: 'internal_error', times: 10_000 });
    try {
      // OPSBOT_GROUPS_MAX_AGE is 2s here: past it, a failing usergroups.list means no group roles.
      await new Promise((r) => setTimeout(r, 2_500));
      const denied = await slash(bot.url, world, 'status api --env staging', byGroup);
      expect(denied.body.text).toMatch(
        /^Denied: status in staging needs role oncall or developer, which you do not hold \(your Slack user groups could not be checked just now/,
      );
      // Roles held by user id are not affected.
      expect((await slash(bot.url, world, 'status api --env staging')).body.text).toMatch(/^Accepted/);
    } finally {
      world.slack.failNext({ method: 'usergroups.list', error: 'internal_error', times: 0 });
    }
  });

  it('without a webhook token, refuses alert webhooks with a start-up warning; a signed PagerDuty route still works', async () => {
    const { GITHUB_TOKEN: _token, ...rest } = world.env;
    // GitHub as it knows this app: its public key, and the installation its JWT buys tokens for.
    const github = await startGitHubFake({
      app: {
        id: 4242,
        publicKey: createPublicKey(SECRETS.privateKey).export({ type: 'spki', format: 'pem' }) as string,
        installationId: 777,
      },
    });
    github.createRepo(AUDIT_REPO, { files: { 'README.md': '# audit\n' } });
    const worker = await startBotProcess(
      {
        ...rest,
        GITHUB_API_URL: github.url,
        LOG_LEVEL: 'trace',
        OPSBOT_QUEUE_PREFIX: `test-${randomUUID()}`,
        PAGERDUTY_WEBHOOK_SECRET: SECRETS.pagerDuty,
        REDIS_URL: testRedisUrlWith(SECRETS.redisPassword).url,
        SLACK_APP_TOKEN: SECRETS.appToken,
        GITHUB_APP_ID: '4242',
        GITHUB_APP_INSTALLATION_ID: '777',
        GITHUB_APP_PRIVATE_KEY: SECRETS.privateKey.replace(/\n/g, '\\n'),
      },
      ['worker'],
    );
    try {
      const warning = worker.lines.find((l) => String(l.msg).startsWith('alert webhooks are refused'));
      expect(warning).toMatchObject({
        level: 40,
        refused: '/webhooks/alertmanager, /webhooks/grafana and /webhooks/datadog',
      });
      const firing = alertFixture('alertmanager-firing.json');
      for (const token of [null, 'anything']) {
        const res = await postWebhook(worker.url, 'alertmanager', firing, { token });
        expect(res.status).toBe(401);
        expect(res.body.reason).toBe(
          'this opsbot accepts no alert webhooks until OPSBOT_WEBHOOK_TOKEN is set',
        );
      }
      const raw = JSON.stringify(alertFixture('pagerduty-triggered.json'));
      const pd = await postWebhook(
        worker.url,
        'pagerduty',
        {},
        {
          raw,
          token: null,
          headers: pagerDutyHeaders(raw, 'wh-sec-1', SECRETS.pagerDuty),
        },
      );
      expect(pd.status).toBe(202);
      // The GitHub App signs a JWT with its key here, for the readiness check.
      expect((await fetch(`${worker.url}/readyz`)).status).toBe(200);
    } finally {
      await worker.stop();
      await github.close();
    }
    const all = worker.raw.join('\n');
    for (const secret of [
      SECRETS.pagerDuty,
      SECRETS.redisPassword,
      SECRETS.appToken,
      BOT_TOKEN,
      GITHUB_TOKEN,
      ...KEY_LINES,
    ])
      expect(all).not.toContain(secret);
    const loaded = worker.lines.find((l) => l.msg === 'configuration loaded') as {
      env?: Record<string, unknown>;
    };
    expect(loaded.env).toMatchObject({
      SLACK_APP_TOKEN: '[redacted]',
      GITHUB_APP_PRIVATE_KEY: '[redacted]',
      PAGERDUTY_WEBHOOK_SECRET: '[redacted]',
      REDIS_URL: testRedisUrlWith(SECRETS.redisPassword).redacted,
      GITHUB_APP_ID: '4242',
    });
  }, 60_000);

  it('has written no secret to its logs in the whole run, shutdown included', async () => {
    await bot.stop();
    const all = bot.raw.join('\n');
    expect(bot.lines.length).toBeGreaterThan(50);
    for (const secret of [
      BOT_TOKEN,
      SIGNING_SECRET,
      GITHUB_TOKEN,
      WEBHOOK_TOKEN,
      SECRETS.pagerDuty,
      SECRETS.redisPassword,
      world.kube.token,
    ])
      expect(all).not.toContain(secret);
    expect(bot.lines.some((l) => l.msg === 'opsbot stopped')).toBe(true);
  });
});
