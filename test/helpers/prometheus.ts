import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** A scrape target on loopback whose gauges the test sets: flip one to make a rule fire or stop. */
export async function startGaugeTarget(
  gauges: Record<string, number>,
): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      Object.entries(gauges)
        .map(([name, value]) => `# TYPE ${name} gauge\n${name} ${value}\n`)
        .join(''),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

export interface PrometheusStack {
  amPort: number;
  logs: string[];
  stop(): Promise<void>;
}

/**
 * Real Prometheus and Alertmanager on loopback: Prometheus scrapes `targetPort` every second and
 * evaluates `rules` (a rules.yml groups list); Alertmanager groups by alertname and sends to `webhookUrl`.
 */
export async function startPrometheusStack(options: {
  rules: string;
  targetPort: number;
  webhookUrl: string;
  webhookToken: string;
  amPort?: number;
}): Promise<PrometheusStack> {
  const children: ChildProcess[] = [];
  const logs: string[] = [];
  const start = (binary: string, args: string[]) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => logs.push(`${binary}: ${d.toString()}`));
    child.stderr?.on('data', (d: Buffer) => logs.push(`${binary}: ${d.toString()}`));
    children.push(child);
  };
  const [promPort, amPort] = [await freePort(), options.amPort ?? (await freePort())];
  const dir = mkdtempSync(join(tmpdir(), 'opsbot-prom-'));
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
      - url: ${options.webhookUrl}
        send_resolved: true
        http_config:
          authorization:
            credentials: ${options.webhookToken}
`,
  );
  writeFileSync(join(dir, 'rules.yml'), options.rules);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [${join(dir, 'rules.yml')}]
alerting:
  alertmanagers:
    - static_configs: [{ targets: ['127.0.0.1:${amPort}'] }]
scrape_configs:
  - job_name: target
    static_configs: [{ targets: ['127.0.0.1:${options.targetPort}'] }]
`,
  );
  start('prometheus-alertmanager', [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'am')}`,
    `--web.listen-address=127.0.0.1:${amPort}`,
    '--cluster.listen-address=',
  ]);
  // Without a short resend delay Prometheus waits a minute to resend what it sent before Alertmanager was found.
  start('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    '--rules.alert.resend-delay=2s',
  ]);
  return {
    amPort,
    logs,
    async stop() {
      for (const child of children) {
        if (child.exitCode === null && child.pid) {
          const exited = once(child, 'exit');
          process.kill(child.pid, 'SIGTERM');
          await exited;
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
