/**
 * The load generator, run as its own process by bench/run.ts: open-loop signed requests to
 * 127.0.0.1 at a fixed rate, bounded in count and time. Prints one JSON line with the latencies.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface LoadSpec {
  mode: 'slash' | 'alert' | 'storm';
  url: string;
  rate: number;
  durationMs: number;
  /** slash: */
  secret?: string;
  texts?: string[];
  userId?: string;
  userName?: string;
  responseUrl?: string;
  /** alert and storm: */
  token?: string;
  groups?: number;
  alertsPerGroup?: number;
  batches?: number;
  tag?: string;
}

export interface LoadResult {
  sent: number;
  ok: number;
  statuses: Record<string, number>;
  errors: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  elapsedMs: number;
  /** Distinct alerts carried by answered notifications (alert and storm modes). */
  alerts?: number;
  /**
   * When the slowest 1% were sent, in seconds into the run: a narrow window is one stall (a pause of
   * the server), a wide one is steady queueing (the machine is saturated).
   */
  slowestSentAt: [number, number];
  /** The load generator's own longest event-loop stall: a large one means it, not the server, was slow. */
  selfStallMs: number;
  /**
   * How many of the slowest 1% went out on a connection opened for them: a tail made of new
   * connections is time spent waiting for the server to accept them, not serving requests.
   */
  slowestOnNewConnections: number;
  /** CPU the generator used while the clock ran: the machine's cores it took from the server. */
  selfCpuMs: number;
}

/** How long a fresh generator waits after building its requests, before the first one goes out. */
const SETTLE_MS = 250;

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** Answers the status, and whether the request went out on a connection it had to open first. */
function post(
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; fresh: boolean }> {
  return new Promise((resolve, reject) => {
    let fresh = false;
    const req = request(
      url,
      { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, fresh }));
      },
    );
    req.once('socket', (socket) => {
      fresh = socket.connecting;
    });
    req.on('error', reject);
    req.end(body);
  });
}

function signedSlash(spec: LoadSpec, i: number): { headers: Record<string, string>; body: string } {
  const texts = spec.texts ?? ['help'];
  const body = new URLSearchParams({
    token: 'verification-token',
    team_id: 'T0TEST',
    team_domain: 'opsbot-test',
    channel_id: 'COPS',
    channel_name: 'ops',
    user_id: spec.userId ?? 'UONCALL1',
    user_name: spec.userName ?? 'alice',
    command: '/ops',
    text: texts[i % texts.length] ?? 'help',
    api_app_id: 'A0OPSBOT',
    is_enterprise_install: 'false',
    response_url: spec.responseUrl ?? 'http://127.0.0.1:9/none',
    trigger_id: `${Date.now()}.${i}.${randomBytes(16).toString('hex')}`,
  }).toString();
  const ts = Math.floor(Date.now() / 1000);
  const sig = createHmac('sha256', spec.secret ?? '')
    .update(`v0:${ts}:${body}`)
    .digest('hex');
  return {
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-signature': `v0=${sig}`,
      'x-slack-request-timestamp': String(ts),
    },
    body,
  };
}

/** An Alertmanager v4 notification: the group's alerts 0..count-1, as Alertmanager resends a whole group. */
export function alertmanagerNotification(tag: string, group: number, count: number) {
  const groupLabels = { alertname: `${tag}${group}` };
  const common = { ...groupLabels, severity: 'warning', env: 'staging' };
  const startsAt = new Date(Date.now() - 60_000).toISOString();
  return {
    version: '4',
    groupKey: `{}:{alertname="${tag}${group}"}`,
    status: 'firing',
    receiver: 'opsbot',
    groupLabels,
    commonLabels: common,
    commonAnnotations: { summary: `${tag} group ${group}` },
    externalURL: 'http://127.0.0.1:9093',
    alerts: Array.from({ length: count }, (_, a) => ({
      status: 'firing',
      labels: { ...common, instance: `pod-${a}` },
      annotations: { summary: `${tag} group ${group}` },
      startsAt,
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://127.0.0.1:9090/graph',
      fingerprint: createHash('sha256').update(`${tag}/${group}/${a}`).digest('hex').slice(0, 16),
    })),
    truncatedAlerts: 0,
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function run(spec: LoadSpec): Promise<LoadResult> {
  const requests: { headers: Record<string, string>; body: string; alerts: string[] }[] = [];
  const count = Math.max(1, Math.round((spec.rate * spec.durationMs) / 1000));
  const auth = { 'content-type': 'application/json', authorization: `Bearer ${spec.token ?? ''}` };
  if (spec.mode === 'storm') {
    // Every group grows batch by batch to alertsPerGroup alerts; groups are interleaved.
    const groups = spec.groups ?? 50;
    const per = spec.alertsPerGroup ?? 200;
    const batches = spec.batches ?? 10;
    for (let b = 1; b <= batches; b++) {
      for (let g = 0; g < groups; g++) {
        const n = Math.ceil((per * b) / batches);
        const body = alertmanagerNotification(spec.tag ?? 'Storm', g, n);
        requests.push({
          headers: auth,
          body: JSON.stringify(body),
          alerts: body.alerts.map((a) => a.fingerprint),
        });
      }
    }
  }
  // Every request is built before the clock starts (as wrk2 and vegeta build their targets), so the
  // generator's own work, JSON and HMAC, is not timed as the server's latency.
  if (spec.mode === 'slash')
    for (let i = 0; i < count; i++) requests.push({ ...signedSlash(spec, i), alerts: [] });
  if (spec.mode === 'alert')
    for (let i = 0; i < count; i++) {
      const body = alertmanagerNotification(spec.tag ?? 'Load', i % (spec.groups ?? 5), 1 + (i % 3));
      requests.push({
        headers: auth,
        body: JSON.stringify(body),
        alerts: body.alerts.map((a) => a.fingerprint),
      });
    }
  // A fresh process has just compiled and loaded its modules: let that settle before the first request.
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const total = requests.length;
  const latencies: number[] = [];
  const samples: { sentAt: number; ms: number; fresh: boolean }[] = [];
  const statuses: Record<string, number> = {};
  const answered = new Set<string>();
  let errors = 0;
  const stalls = monitorEventLoopDelay({ resolution: 5 });
  stalls.enable();
  const cpuAtStart = process.cpuUsage();
  const started = performance.now();
  const deadline = started + spec.durationMs * 3 + 30_000;
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / spec.rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (performance.now() > deadline) break;
    const req = requests[i]!;
    const t0 = performance.now();
    inflight.push(
      post(
        `${spec.url}${spec.mode === 'slash' ? '/slack/events' : '/webhooks/alertmanager'}`,
        req.headers,
        req.body,
      ).then(
        ({ status, fresh }) => {
          latencies.push(performance.now() - t0);
          samples.push({ sentAt: t0 - started, ms: performance.now() - t0, fresh });
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status < 300) for (const a of req.alerts) answered.add(a);
        },
        () => {
          errors++;
        },
      ),
    );
  }
  await Promise.all(inflight);
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuAtStart);
  stalls.disable();
  latencies.sort((a, b) => a - b);
  const slowestSamples = samples
    .sort((a, b) => b.ms - a.ms)
    .slice(0, Math.max(1, Math.ceil(samples.length / 100)));
  const slowest = slowestSamples.map((x) => Math.round(x.sentAt) / 1000);
  const ok = Object.entries(statuses)
    .filter(([s]) => Number(s) < 300)
    .reduce((n, [, c]) => n + c, 0);
  return {
    sent: inflight.length,
    ok,
    statuses,
    errors,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? Number.NaN,
    elapsedMs,
    slowestSentAt: [Math.min(...slowest), Math.max(...slowest)],
    selfStallMs: stalls.max / 1e6,
    slowestOnNewConnections: slowestSamples.filter((x) => x.fresh).length,
    selfCpuMs: (cpu.user + cpu.system) / 1000,
    ...(spec.mode === 'slash' ? {} : { alerts: answered.size }),
  };
}

if (process.argv[2]) {
  const spec = JSON.parse(process.argv[2]) as LoadSpec;
  run(spec).then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      agent.destroy();
    },
    (err: unknown) => {
      process.stderr.write(`load generator failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
