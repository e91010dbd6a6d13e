import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertmanagerAlerts } from '../../src/alerts/verify.js';
import { Incident } from '../../src/core/incident.js';
import { INCIDENT_REPO, WEBHOOK_TOKEN } from '../helpers/alerts.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import {
  freePort,
  type PrometheusStack,
  startGaugeTarget,
  startPrometheusStack,
} from '../helpers/prometheus.js';
import { AUDIT_REPO, auditRecords, slash, startWorld, USERS, type World } from '../helpers/world.js';

const WINDOW_S = 15;

const config = (amPort: number) => `
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
  verify: { window: ${WINDOW_S}s, every: 1s }
  alertmanager: { url: "http://127.0.0.1:${amPort}" }
`;

const RULES = `groups:
  - name: opsbot-verdict
    rules:
      - alert: ApiBroken
        expr: opsbot_test_broken > 0
        labels: { severity: critical, deployment: api, namespace: apps, env: staging }
      - alert: WorkerStuck
        expr: opsbot_test_stuck > 0
        labels: { severity: warning, deployment: worker, namespace: apps, env: staging }
`;

// The global setup has checked that both programs are installed, and fails the run at once if not.
describe('a verdict after an action, judged by a real Alertmanager', () => {
  let world: World;
  let bot: BotProcess;
  let stack: PrometheusStack;
  let target: Server;
  const gauges = { opsbot_test_broken: 1, opsbot_test_stuck: 1 };

  beforeAll(async () => {
    const amPort = await freePort();
    world = await startWorld({ config: config(amPort) });
    world.github.createRepo(INCIDENT_REPO, { files: { 'README.md': '# incidents\n' } });
    bot = await startBotProcess({ ...world.env, OPSBOT_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    const gaugeTarget = await startGaugeTarget(gauges);
    target = gaugeTarget.server;
    stack = await startPrometheusStack({
      rules: RULES,
      targetPort: gaugeTarget.port,
      webhookUrl: `${bot.url}/webhooks/alertmanager`,
      webhookToken: WEBHOOK_TOKEN,
      amPort,
    });
  });

  afterAll(async () => {
    await stack?.stop();
    target?.close();
    await bot?.stop();
    await world?.close();
  });

  const incidentChannel = (suffix: string) =>
    world.slack
      .channels()
      .find((c) => c.name.startsWith('inc-') && c.name.endsWith(suffix) && c.id !== undefined);
  const verdictsIn = (channelId: string) =>
    world.slack.messages(channelId).filter((m) => m.text?.startsWith('Verdict on '));
  const issueOf = (title: string) => world.github.issues(INCIDENT_REPO).find((i) => i.title.endsWith(title));

  /** Runs `/ops <text>` in the incident's channel and answers the action's executed audit record. */
  async function actIn(channel: { id: string; name: string }, text: string, target: string) {
    const ack = await slash(bot.url, world, text, { channel });
    expect(ack.body.text).toMatch(/^Accepted: /);
    return world.github.waitFor(
      () => auditRecords(world).find((r) => r.target === target && r.outcome === 'executed'),
      15_000,
    );
  }

  it('is resolved when the alerts clear after a rollback in the channel, and unchanged after a restart elsewhere that names the deployment', async () => {
    const both = await world.slack
      .waitFor(() => {
        const api = incidentChannel('-apibroken');
        const worker = incidentChannel('-workerstuck');
        return api && worker && issueOf('ApiBroken') && issueOf('WorkerStuck') ? { api, worker } : undefined;
      }, 45_000)
      .catch((err: unknown) => {
        throw new Error(`${String(err)}\n${stack.logs.slice(-20).join('')}`);
      });

    // The query the watch makes: one `filter` matcher per group label, answered by the real Alertmanager.
    const alertmanager = new AlertmanagerAlerts(`http://127.0.0.1:${stack.amPort}`, (i) => i.labels);
    const incidentOf = (labels: Record<string, string>) =>
      Incident.parse({
        id: 'q',
        key: 'q',
        source: 'alertmanager',
        title: 'q',
        severity: 'q',
        status: 'open',
        openedAt: 0,
        labels,
      });
    expect(
      await alertmanager.firing(incidentOf({ alertname: 'WorkerStuck', deployment: 'worker' })),
    ).toHaveLength(1);
    expect(
      await alertmanager.firing(incidentOf({ alertname: 'WorkerStuck', deployment: 'api' })),
    ).toHaveLength(0);

    const rollback = await actIn(both.api, 'rollback api --reason "bad deploy"', 'api');
    // Typed in another channel, it names the open incident's deployment: it is judged all the same.
    const restart = await actIn({ id: 'COPS', name: 'ops' }, 'restart worker --env staging', 'worker');
    // The fix lands: the gauge the ApiBroken rule watches drops, after the watch took its baseline.
    await new Promise((r) => setTimeout(r, 2_000));
    gauges.opsbot_test_broken = 0;

    const resolved = await world.slack.waitFor(() => verdictsIn(both.api.id)[0], WINDOW_S * 1000);
    expect(resolved.text).toMatch(
      /^Verdict on rollback api in staging: resolved, the alerts cleared \d+s after the action\.$/,
    );
    const unchanged = await world.slack.waitFor(() => verdictsIn(both.worker.id)[0], (WINDOW_S + 15) * 1000);
    expect(unchanged.text).toBe(
      `Verdict on restart worker in staging: unchanged, 1 alert(s) still firing ${WINDOW_S}s after the action.`,
    );

    // In the audit trail: new records that link the action's, which stays as it was.
    const followUps = await world.github.waitFor(() => {
      const found = auditRecords(world).filter((r) => r.follows !== undefined);
      return found.length === 2 ? found : undefined;
    }, 15_000);
    expect(followUps).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          outcome: 'resolved',
          action: 'verify rollback',
          target: 'api',
          follows: expect.objectContaining({ id: rollback.id }),
        }),
        expect.objectContaining({
          outcome: 'unchanged',
          action: 'verify restart',
          target: 'worker',
          follows: expect.objectContaining({ id: restart.id }),
        }),
      ]),
    );
    expect(auditRecords(world).find((r) => r.id === rollback.id)?.outcome).toBe('executed');

    // On each incident's issue, once.
    const apiIssue = await world.github.waitFor(() => {
      const issue = issueOf('ApiBroken');
      return issue?.comments.some((c) => c.body?.includes('Verdict on rollback api')) ? issue : undefined;
    }, 15_000);
    expect(apiIssue.comments.filter((c) => c.body?.includes('**resolved**'))).toHaveLength(1);
    const workerIssue = await world.github.waitFor(() => {
      const issue = issueOf('WorkerStuck');
      return issue?.comments.some((c) => c.body?.includes('Verdict on restart worker')) ? issue : undefined;
    }, 15_000);
    expect(workerIssue.comments.filter((c) => c.body?.includes('**unchanged**'))).toHaveLength(1);

    // Exactly one verdict per action, however many checks the watch made.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(verdictsIn(both.api.id)).toHaveLength(1);
    expect(verdictsIn(both.worker.id)).toHaveLength(1);
    expect(verdictsIn('COPS')).toHaveLength(0);
  }, 150_000);
});
