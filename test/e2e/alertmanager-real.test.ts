import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INCIDENT_REPO, WEBHOOK_TOKEN } from '../helpers/alerts.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { AUDIT_REPO, startWorld, USERS, type World } from '../helpers/world.js';

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

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
  let target: Server;
  let broken = 1;
  const children: ChildProcess[] = [];
  const logs: string[] = [];
  let dir = '';

  const start = (binary: string, args: string[]) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => logs.push(`${binary}: ${d.toString()}`));
    child.stderr?.on('data', (d: Buffer) => logs.push(`${binary}: ${d.toString()}`));
    children.push(child);
    return child;
  };

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG });
    world.github.createRepo(INCIDENT_REPO, { files: { 'README.md': '# incidents\n' } });
    bot = await startBotProcess({ ...world.env, OPSBOT_WEBHOOK_TOKEN: WEBHOOK_TOKEN });

    // The scrape target: a gauge the test flips to make the rule fire and stop.
    target = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`# TYPE opsbot_test_broken gauge\nopsbot_test_broken ${broken}\n`);
    });
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    const targetPort = (target.address() as AddressInfo).port;
    const [promPort, amPort] = [await freePort(), await freePort()];

    dir = mkdtempSync(join(tmpdir(), 'opsbot-prom-'));
    writeFileSync(
      join(dir, 'alertmanager.yml'),
      `route:
  receiver: opsbot
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: opsbot
    webhook_configs:
      - url: ${bot.url}/webhooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: ${WEBHOOK_TOKEN}
`,
    );
    writeFileSync(
      join(dir, 'rules.yml'),
      `groups:
  - name: opsbot-test
    rules:
      - alert: ApiBroken
        expr: opsbot_test_broken > 0
        labels: { severity: critical, deployment: api, namespace: apps, env: staging }
        annotations: { summary: "api answers 5xx", runbook_url: "https://runbooks.example.com/api" }
`,
    );
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [${join(dir, 'rules.yml')}]
alerting:
  alertmanagers:
    - static_configs: [{ targets: ['127.0.0.1:${amPort}'] }]
scrape_configs:
  - job_name: target
    static_configs: [{ targets: ['127.0.0.1:${targetPort}'] }]
`,
    );
    start('prometheus-alertmanager', [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'am')}`,
      `--web.listen-address=127.0.0.1:${amPort}`,
      '--cluster.listen-address=',
    ]);
    start('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--rules.alert.resend-delay=2s',
    ]);
  });

  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.pid) {
        const exited = once(child, 'exit');
        process.kill(child.pid, 'SIGTERM');
        await exited;
      }
    }
    target?.close();
    await bot?.stop();
    await world?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('opens a channel and an issue when the rule fires, and resolves both when it stops', async () => {
    const issues = () => world.github.issues(INCIDENT_REPO);
    const issue = await world.github
      .waitFor(() => issues()[0], 45_000)
      .catch((err: unknown) => {
        throw new Error(`${String(err)}\n${logs.slice(-20).join('')}`);
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

    broken = 0;
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
