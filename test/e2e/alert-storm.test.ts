import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertFixture, INCIDENT_REPO, percentile, postWebhook, WEBHOOK_TOKEN } from '../helpers/alerts.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { AUDIT_REPO, startWorld, type World } from '../helpers/world.js';

const GROUPS = 50;
const PER_GROUP = 200;
/** Alertmanager sends every alert of the group each time; the group grows in four steps. */
const STEPS = [50, 100, 150, 200];
/** Half the groups' last notification lists only 150 alerts and says 50 were truncated (max_alerts). */
const TRUNCATED_LISTED = 150;
const CREATE_LIMIT = { count: 20, windowMs: 10_000 };

const CONFIG = `
environments:
  prod: { context: prod, namespace: apps }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
incidents:
  repo: ${INCIDENT_REPO}
  routes:
    - { match: { severity: critical }, invite: ["@sre-oncall"] }
  # Slack's 20 per minute, on a 10 s window so that the test runs in seconds; same limiter code.
  channelCreateLimit: { count: ${CREATE_LIMIT.count}, per: 10s }
`;

interface Stored {
  id: string;
  key: string;
  channelId?: string;
  summaryTs?: string;
  issue?: number;
  alerts: Record<string, { status: string }>;
  truncatedAlerts: number;
  syncPending: boolean;
  summaryDirty: boolean;
  outbox: string[];
}

describe('alert storm: 10,000 alerts in 50 groups', () => {
  let world: World;
  let bot: BotProcess;
  let redis: Redis;

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG });
    world.github.createRepo(INCIDENT_REPO, { files: { 'README.md': '# incidents\n' } });
    bot = await startBotProcess({ ...world.env, OPSBOT_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    redis = new Redis(world.env.REDIS_URL as string);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
    redis?.disconnect();
  });

  const incidents = async (): Promise<Stored[]> => {
    const keys = await redis.keys(`${world.env.OPSBOT_QUEUE_PREFIX}:incidents:incident:*`);
    if (keys.length === 0) return [];
    const values = await redis.mget(keys);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as Stored);
  };

  it('makes exactly one channel per group within Slack limits and accounts for every alert', async () => {
    const base = alertFixture<{ alerts: Record<string, unknown>[] }>('alertmanager-firing.json');
    const template = base.alerts[0] as { labels: Record<string, string> };
    const notifications: { body: unknown; group: number }[] = [];
    for (const size of STEPS) {
      for (let g = 0; g < GROUPS; g++) {
        const truncate = size === PER_GROUP && g % 2 === 0;
        const listed = truncate ? TRUNCATED_LISTED : size;
        const alerts = Array.from({ length: listed }, (_, i) => ({
          ...template,
          labels: { ...template.labels, alertname: `StormAlert${g}`, pod: `pod-${g}-${i}` },
          startsAt: '2026-11-23T10:00:00.000Z',
          fingerprint: `storm-${g}-${i}`,
        }));
        notifications.push({
          group: g,
          body: {
            ...base,
            groupKey: `{}:{alertname="StormAlert${g}"}`,
            commonLabels: { alertname: `StormAlert${g}`, severity: 'critical' },
            alerts,
            truncatedAlerts: truncate ? PER_GROUP - TRUNCATED_LISTED : 0,
          },
        });
      }
    }

    const started = Date.now();
    const times: number[] = [];
    let next = 0;
    const worker = async () => {
      while (next < notifications.length) {
        const n = notifications[next++]!;
        const r = await postWebhook(bot.url, 'alertmanager', n.body);
        expect(r.status).toBe(202);
        times.push(r.ms);
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    const postedMs = Date.now() - started;

    // Settled: every incident has its channel, summary and issue, and nothing left in its outbox.
    let settled: Stored[] = [];
    let progress = '';
    for (const deadline = Date.now() + 100_000; Date.now() < deadline; ) {
      const all = await incidents();
      progress = `${all.length} incidents, ${all.filter((i) => i.channelId).length} channels, ${all.filter((i) => i.issue).length} issues, ${all.filter((i) => i.syncPending || i.summaryDirty || i.outbox.length).length} with pending work`;
      const done = all.filter(
        (i) =>
          i.channelId && i.summaryTs && i.issue && !i.syncPending && !i.summaryDirty && i.outbox.length === 0,
      );
      if (done.length === GROUPS && all.length === GROUPS) {
        settled = all;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(settled.length, `not settled: ${progress}`).toBe(GROUPS);
    const settledMs = Date.now() - started;

    const channels = world.slack.channels().filter((c) => c.name.startsWith('inc-'));
    expect(channels).toHaveLength(GROUPS);
    expect(new Set(channels.map((c) => c.name)).size).toBe(GROUPS);
    expect(world.github.issues(INCIDENT_REPO)).toHaveLength(GROUPS);

    // Every alert is in its incident's record: listed, or counted as truncated by Alertmanager.
    let accounted = 0;
    for (const incident of settled) {
      const g = Number(/StormAlert(\d+)/.exec(incident.key)?.[1]);
      const listed = Object.keys(incident.alerts).filter((f) => f.startsWith(`storm-${g}-`)).length;
      expect(Object.keys(incident.alerts)).toHaveLength(listed);
      expect(listed + incident.truncatedAlerts).toBe(PER_GROUP);
      accounted += listed + incident.truncatedAlerts;
    }
    expect(accounted).toBe(GROUPS * PER_GROUP);

    // Slack limits held: creation within the configured window, one message per second per channel.
    const creates = world.slack.calls.filter((c) => c.method === 'conversations.create').map((c) => c.at);
    expect(creates).toHaveLength(GROUPS);
    const maxInWindow = Math.max(
      ...creates.map((t) => creates.filter((u) => u >= t && u - t < CREATE_LIMIT.windowMs).length),
    );
    expect(maxInWindow).toBeLessThanOrEqual(CREATE_LIMIT.count);
    const stats = world.slack.stats();
    expect(stats.maxPerChannelPerSecond).toBeLessThanOrEqual(1);
    expect(world.slack.calls.filter((c) => c.status === 429)).toHaveLength(0);

    // The final summaries say how many alerts fired, truncated ones included.
    const summaries = channels.map((c) =>
      world.slack.messages(c.id).find((m) => m.text?.startsWith('Incident:')),
    );
    for (const s of summaries)
      expect(JSON.stringify(s?.blocks)).toMatch(/200 firing|150 firing · 0 resolved · 50 not listed/);

    const status = await readFile(`/proc/${bot.child.pid}/status`, 'utf8').catch(() => '');
    const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
    console.log(
      `storm: ${notifications.length} notifications (${GROUPS * PER_GROUP} alerts) posted in ${postedMs} ms, ` +
        `webhook p50 ${percentile(times, 50).toFixed(1)} ms p99 ${percentile(times, 99).toFixed(1)} ms; settled in ${settledMs} ms; ` +
        `conversations.create max ${maxInWindow}/${CREATE_LIMIT.windowMs / 1000}s; max ${stats.maxPerChannelPerSecond} msg/s/channel; ` +
        `chat.postMessage ${stats.perMethod['chat.postMessage'] ?? 0}, chat.update ${stats.perMethod['chat.update'] ?? 0}; RSS ${(rss / 1e6).toFixed(0)} MB`,
    );
  }, 150_000);
});
