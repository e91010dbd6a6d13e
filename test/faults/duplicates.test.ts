import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { AUDIT_REPO, slash, startWorld, USERS, type World } from '../helpers/world.js';
import { generationOf, recordsFor, sleep, until, writesTo } from './support.js';

const WEBHOOK_TOKEN = 'test-webhook-token-77c1';
const CONFIG = `
environments:
  staging: { context: staging, namespace: apps }
roles:
  oncall:
    members: [${USERS.oncall.id}, "@sre-oncall"]
    can:
      - { actions: [rollback, restart, scale, status, history], environments: [staging] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
incidents:
  repo: acme/incidents
  channelPrefix: inc
  routes:
    - { match: { severity: critical }, invite: ["@sre-oncall"] }
`;

/** An Alertmanager v4 webhook body, as Alertmanager 0.25 sends it. */
function alertmanagerBody(groupKey: string) {
  const startsAt = new Date(Date.now() - 60_000).toISOString();
  const labels = { alertname: 'HighErrorRate', service: 'api', severity: 'critical', env: 'staging' };
  return {
    version: '4',
    groupKey,
    status: 'firing',
    receiver: 'opsbot',
    groupLabels: { alertname: 'HighErrorRate' },
    commonLabels: labels,
    commonAnnotations: { summary: 'api 5xx above 5%' },
    externalURL: 'http://alertmanager.local:9093',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: { summary: 'api 5xx above 5%' },
        startsAt,
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.local:9090/graph',
        fingerprint: 'c0ffee0123456789',
      },
    ],
    truncatedAlerts: 0,
  };
}

describe('the same delivery twice', () => {
  let world: World;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG, rolloutStepMs: 100 });
    world.github.createRepo('acme/incidents', { files: { 'README.md': '# incidents\n' } });
    bot = await startBotProcess({ ...world.env, OPSBOT_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('runs a Slack request delivered twice, also concurrently, once', async () => {
    const generation = generationOf(world, 'worker');
    const triggerId = '8123456789.1234567890.0123456789abcdef0123456789abcdef';
    const concurrent = await Promise.all(
      Array.from({ length: 4 }, () => slash(bot!.url, world, 'restart worker --env staging', { triggerId })),
    );
    const later = await slash(bot!.url, world, 'restart worker --env staging', { triggerId });
    const texts = [...concurrent, later].map((r) => r.body.text ?? '');
    expect(texts.filter((t) => t.startsWith('Accepted'))).toHaveLength(1);
    expect(texts.filter((t) => t.startsWith('Already accepted'))).toHaveLength(4);

    await until(() => recordsFor(world, 'worker').length > 0, 20_000, 'the audit record');
    await sleep(1_500);
    expect(writesTo(world, 'worker')).toHaveLength(1);
    expect(generationOf(world, 'worker') - generation).toBe(1);
    expect(recordsFor(world, 'worker')).toHaveLength(1);
    expect(recordsFor(world, 'worker')[0]?.outcome).toBe('executed');
  }, 60_000);

  it('handles an Alertmanager notification delivered twice once', async () => {
    const post = () =>
      fetch(`${bot!.url}/webhooks/alertmanager`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
        body: JSON.stringify(alertmanagerBody('{}/{severity="critical"}:{alertname="HighErrorRate"}')),
      });
    const first = await post();
    await first.text();
    // A missing route is a failure, never a reason to skip.
    expect(first.status, 'POST /webhooks/alertmanager is served').not.toBe(404);
    const second = await post();
    await second.text();
    expect(first.status).toBeLessThan(300);
    expect(second.status).toBeLessThan(300);

    await until(
      () => world.slack.channels().some((c) => c.name.startsWith('inc-')),
      20_000,
      'the incident channel',
    );
    await sleep(3_000);
    const created = world.slack.calls.filter((c) => c.method === 'conversations.create' && c.status === 200);
    expect(created).toHaveLength(1);
    expect(world.slack.channels().filter((c) => c.name.startsWith('inc-'))).toHaveLength(1);
    expect(world.github.issues('acme/incidents')).toHaveLength(1);
  }, 60_000);
});
