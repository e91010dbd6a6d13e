import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INCIDENT_REPO, WEBHOOK_TOKEN } from '../helpers/alerts.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { type PrometheusStack, startGaugeTarget, startPrometheusStack } from '../helpers/prometheus.js';
import { AUDIT_REPO, startWorld, USERS, type World } from '../helpers/world.js';

const CONFIG = `
environments:
  staging: { context: staging, namespace: apps }
roles:
  oncall:
    members: [${USERS.oncall.id}]
    can:
      - { actions: [status, restart, rollback], environments: [staging] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
incidents:
  repo: ${INCIDENT_REPO}
  routes:
    - { match: { severity: critical }, invite: ["@sre-oncall"] }
`;

// The global setup has checked that both programs are installed, and fails the run at once if not.
describe('real Prometheus and Alertmanager', () => {
  let world: World;
  let bot: BotProcess;
  let stack: PrometheusStack;
  let target: Server;
  // The scrape target: a gauge the test flips to make the rule fire and stop.
  const gauges = { opsbot_test_broken: 1 };

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG });
    world.github.createRepo(INCIDENT_REPO, { files: { 'README.md': '# incidents\n' } });
    bot = await startBotProcess({ ...world.env, OPSBOT_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    const gaugeTarget = await startGaugeTarget(gauges);
    target = gaugeTarget.server;
    stack = await startPrometheusStack({
      rules: `groups:
  - name: opsbot-test
    rules:
      - alert: ApiBroken
        expr: opsbot_test_broken > 0
        labels: { severity: critical, deployment: api, namespace: apps, env: staging }
        annotations: { summary: "api answers 5xx", runbook_url: "https://runbooks.example.com/api" }
`,
      targetPort: gaugeTarget.port,
      webhookUrl: `${bot.url}/webhooks/alertmanager`,
      webhookToken: WEBHOOK_TOKEN,
    });
  });

  afterAll(async () => {
    await stack?.stop();
    target?.close();
    await bot?.stop();
    await world?.close();
  });

  it('opens a channel and an issue when the rule fires, and resolves both when it stops', async () => {
    const issues = () => world.github.issues(INCIDENT_REPO);
    const issue = await world.github
      .waitFor(() => issues()[0], 45_000)
      .catch((err: unknown) => {
        throw new Error(`${String(err)}\n${stack.logs.slice(-20).join('')}`);
      });
    expect(issue.title).toBe('[critical] ApiBroken');
    expect(issue.labels).toEqual(expect.arrayContaining(['severity:critical', 'status:open']));
    const channel = world.slack
      .channels()
      .find((c) => c.name.startsWith('inc-') && c.name.endsWith('-apibroken'));
    expect(channel).toBeDefined();
    expect(channel?.members).toContain(USERS.oncall2.id);
    const summary = await world.slack.waitFor(() =>
      world.slack.messages(channel?.id).find((m) => m.text?.startsWith('Incident: ApiBroken')),
    );
    const blocks = JSON.stringify(summary.blocks);
    expect(blocks).toContain('api answers 5xx');
    expect(blocks).toContain('Restart api');
    expect(blocks).toMatch(/generator/);

    gauges.opsbot_test_broken = 0;
    const closed = await world.github.waitFor(() => issues().find((i) => i.state === 'closed'), 45_000);
    expect(closed.number).toBe(issue.number);
    expect(closed.labels).toContain('status:resolved');
    await world.slack.waitFor(
      () => world.slack.messages(channel?.id).find((m) => m.text?.includes('*Resolved* after')),
      15_000,
    );
    expect(world.slack.channels().filter((c) => c.name.startsWith('inc-'))).toHaveLength(1);
  }, 90_000);
});
