import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { testRedisUrlWith } from '../helpers/redis-url.js';
import {
  auditRecords,
  BOT_TOKEN,
  DEFAULT_CONFIG,
  GITHUB_TOKEN,
  SIGNING_SECRET,
  slash,
  startWorld,
  USERS,
  type World,
} from '../helpers/world.js';

const WEBHOOK_TOKEN = 'whk-test-token-77a1';
const PAGERDUTY_SECRET = 'pd-test-secret-5e0b';
const REDIS_PASSWORD = 'redis-test-password-c41d';

function deploymentManifest(name: string) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name, image: `ghcr.io/acme/${name}:1.0.0` }] },
      },
    },
  };
}

describe('running it as a service', () => {
  describe('observability and secrets', () => {
    let world: World;
    let bot: BotProcess;

    beforeAll(async () => {
      world = await startWorld();
      bot = await startBotProcess({
        ...world.env,
        LOG_LEVEL: 'trace',
        OPSBOT_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        PAGERDUTY_WEBHOOK_SECRET: PAGERDUTY_SECRET,
        // Redis accepts (and ignores) a password when it has none configured: enough to see where it lands.
        REDIS_URL: testRedisUrlWith(REDIS_PASSWORD).url,
      });
    });

    afterAll(async () => {
      await bot?.stop();
      await world?.close();
    });

    it('counts commands, action durations, queue depth and external errors in /metrics', async () => {
      await slash(bot.url, world, 'status api --env staging');
      await slash(bot.url, world, 'rollback api --env staging', { user: USERS.developer });
      await slash(bot.url, world, 'nonsense');
      // Typed words never become label values: every unknown verb is one "unknown" series.
      for (const junk of ['x-7f3a', 'x-91c2', '<!channel>']) await slash(bot.url, world, junk);
      await slash(bot.url, world, 'env open pr-1', { user: USERS.stranger });
      // Kubernetes refuses the next read for good: one failed job, one external error.
      world.kube.failNext({ method: 'GET', path: /deployments\/worker$/, status: 403, times: 1 });
      await slash(bot.url, world, 'status worker --env staging');
      await world.github.waitFor(() => auditRecords(world).some((r) => r.outcome === 'failed'), 10_000);
      const text = await (await fetch(`${bot.url}/metrics`)).text();
      expect(text).toMatch(/opsbot_commands_total\{verb="status",outcome="queued"\} 2/);
      expect(text).toMatch(/opsbot_commands_total\{verb="rollback",outcome="denied"\} 1/);
      expect(text).toMatch(/opsbot_commands_total\{verb="unknown",outcome="invalid"\} 4/);
      expect(text).not.toMatch(/verb="(nonsense|x-7f3a|x-91c2|<!channel>)"/);
      expect(text).toMatch(/opsbot_commands_total\{verb="env open",outcome="invalid"\} 1/);
      expect(text).toMatch(/opsbot_action_duration_seconds_count\{command="status",outcome="executed"\} 1/);
      expect(text).toMatch(/opsbot_queue_depth\{queue="commands",state="waiting"\} 0/);
      expect(text).toMatch(/opsbot_queue_failures_total\{queue="commands"\} 1/);
      expect(text).toMatch(/opsbot_external_errors_total\{system="kubernetes",status="403"\} 1/);
      expect(text).toContain('opsbot_process_resident_memory_bytes');
    });

    it('names each dependency that makes it unready', async () => {
      const ready = await fetch(`${bot.url}/readyz`);
      expect(ready.status).toBe(200);
      world.github.failFor({ status: 503 });
      const unready = await fetch(`${bot.url}/readyz`);
      const raw = await unready.text();
      const body = JSON.parse(raw) as { checks: { name: string; ok: boolean; error?: string }[] };
      world.github.clearFaults();
      expect(unready.status).toBe(503);
      expect(body.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['github']);
      // Anyone can ask /readyz: it names the dependency, and what the upstream said goes to the log only.
      expect(body.checks.every((c) => Object.keys(c).sort().join() === 'name,ok')).toBe(true);
      expect(raw).not.toMatch(/GitHub answered|Service Unavailable|acme\/ops-audit/);
      const logged = await bot.waitForLog((l) => l.msg === 'readiness check failed');
      expect(logged).toMatchObject({
        dependency: 'github',
        error: expect.stringMatching(/GitHub answered 503/),
      });
      expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
    });

    it('never writes a token or secret to its logs, even at trace level and on errors', async () => {
      world.github.failFor({ status: 502, times: 2 });
      world.slack.rateLimit({ method: 'chat.postMessage', times: 1, retryAfterSeconds: 1 });
      await slash(bot.url, world, 'rollback web --env staging --to 1');
      await slash(bot.url, world, 'help', { secret: 'wrong' });
      await world.github.waitFor(() => auditRecords(world).some((r) => r.target === 'web'), 15_000);
      const all = bot.raw.join('\n');
      expect(bot.raw.length).toBeGreaterThan(20);
      expect(all).toContain('audit write failed; will retry');
      for (const secret of [
        BOT_TOKEN,
        SIGNING_SECRET,
        GITHUB_TOKEN,
        WEBHOOK_TOKEN,
        PAGERDUTY_SECRET,
        REDIS_PASSWORD,
        world.kube.token,
      ]) {
        expect(all).not.toContain(secret);
      }
      // The effective configuration is logged, with every credential in it redacted.
      const loaded = bot.lines.find((l) => l.msg === 'configuration loaded') as
        | { env?: Record<string, unknown> }
        | undefined;
      expect(loaded?.env).toMatchObject({
        SLACK_BOT_TOKEN: '[redacted]',
        SLACK_SIGNING_SECRET: '[redacted]',
        GITHUB_TOKEN: '[redacted]',
        OPSBOT_WEBHOOK_TOKEN: '[redacted]',
        PAGERDUTY_WEBHOOK_SECRET: '[redacted]',
        REDIS_URL: testRedisUrlWith(REDIS_PASSWORD).redacted,
      });
      // Every line is JSON with a fixed message.
      expect(bot.lines.every((l) => typeof l.msg === 'string' && l.level >= 10)).toBe(true);
    });
  });

  describe('three replicas sharing one Redis', () => {
    let world: World;
    let bots: BotProcess[] = [];

    beforeAll(async () => {
      world = await startWorld({
        // 200 deliveries from one user in a burst: far over the default per-user limit, which is not tested here.
        config: `${DEFAULT_CONFIG}\nrollout: { timeout: 30s, pollInterval: 1s }\nrateLimit: { count: 1000, per: 1m }\n`,
      });
      for (let i = 0; i < 100; i++)
        world.kube.applyDeployment('apps', deploymentManifest(`svc-${String(i).padStart(3, '0')}`), {
          settle: true,
        });
      bots = await Promise.all([0, 1, 2].map(() => startBotProcess(world.env)));
    });

    afterAll(async () => {
      await Promise.all(bots.map((b) => b.stop()));
      await world?.close();
    });

    it('runs each of 100 commands, each delivered twice to different replicas, exactly once', async () => {
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < 100; i++) {
        const name = `svc-${String(i).padStart(3, '0')}`;
        const triggerId = `multi.${i}.${Date.now()}`;
        // Slack retries hit whichever replica the load balancer picks.
        sends.push(slash(bots[i % 3]!.url, world, `restart ${name} --env staging`, { triggerId }));
        sends.push(slash(bots[(i + 1) % 3]!.url, world, `restart ${name} --env staging`, { triggerId }));
      }
      await Promise.all(sends);
      const records = await world.github.waitFor(() => {
        const found = auditRecords(world).filter((r) => String(r.target).startsWith('svc-'));
        return found.length >= 100 ? found : undefined;
      }, 90_000);
      await new Promise((r) => setTimeout(r, 1_500));
      const finalRecords = auditRecords(world).filter((r) => String(r.target).startsWith('svc-'));
      expect(finalRecords).toHaveLength(100);
      expect(new Set(records.map((r) => r.target)).size).toBe(100);
      expect(finalRecords.every((r) => r.outcome === 'executed')).toBe(true);
      const patches = world.kube.requests.filter(
        (r) => r.method === 'PATCH' && /\/deployments\/svc-\d{3}$/.test(r.path) && !r.query.dryRun,
      );
      expect(patches).toHaveLength(100);
      // The work was shared: more than one replica ran jobs.
      const runners = bots.filter((b) => b.lines.some((l) => l.msg === 'command finished'));
      expect(runners.length).toBeGreaterThan(1);
    }, 120_000);

    it('drains on SIGTERM: the running action finishes, then the process exits 0', async () => {
      const slow = await startWorld({
        rolloutStepMs: 400,
        config: `${DEFAULT_CONFIG}\nrollout: { timeout: 30s, pollInterval: 1s }\n`,
      });
      const bot = await startBotProcess(slow.env);
      try {
        const ack = await slash(bot.url, slow, 'restart api --env staging');
        expect(ack.body.text).toMatch(/^Accepted/);
        await bot.waitForLog((l) => l.msg === 'command started');
        const exited = bot.stop('SIGTERM');
        await bot.waitForLog((l) => l.msg === 'shutting down: no new work is taken');
        // Not ready from the moment SIGTERM arrives, while the running action drains; still alive.
        const ready = await fetch(`${bot.url}/readyz`);
        expect(ready.status).toBe(503);
        expect(await ready.json()).toMatchObject({ status: 'draining' });
        expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
        expect(bot.lines.some((l) => l.msg === 'command finished')).toBe(false);
        const code = await exited;
        expect(code).toBe(0);
        expect(bot.lines.some((l) => l.msg === 'command finished')).toBe(true);
        const started = bot.lines.findIndex((l) => l.msg === 'shutting down: no new work is taken');
        const finished = bot.lines.findIndex((l) => l.msg === 'command finished');
        expect(finished).toBeGreaterThan(started);
      } finally {
        await bot.stop();
        await slow.close();
      }
    }, 60_000);
  });
});
