import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { type SentinelGroup, startSentinelGroup } from '../helpers/redis-topologies.js';
import { testRedisUrl } from '../helpers/redis-url.js';
import { auditRecords, slash, startWorld, type World } from '../helpers/world.js';
import { sleep, until } from './support.js';

const TARGETS = ['api', 'worker', 'web'] as const;
const COMMANDS = 30;
const KILL_AFTER = 10;

async function redisReady(url: string): Promise<boolean> {
  const res = await fetch(`${url}/readyz`).catch(() => undefined);
  if (!res) return false;
  const body = (await res.json()) as { checks: { name: string; ok: boolean }[] };
  return body.checks.some((c) => c.name === 'redis' && c.ok);
}

/** The scale writes (PUT on the scale subresource) that set `name` to `replicas`. */
function scaleWrites(world: World, name: string, replicas: number) {
  return world.kube.requests.filter(
    (r) =>
      r.method === 'PUT' &&
      r.path.endsWith(`/deployments/${name}/scale`) &&
      r.query.dryRun === undefined &&
      (r.body as { spec?: { replicas?: number } } | undefined)?.spec?.replicas === replicas,
  );
}

describe('Redis Sentinel: the master is killed during a stream of commands', () => {
  let group: SentinelGroup;
  let world: World;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    group = await startSentinelGroup();
    world = await startWorld();
  }, 60_000);

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
    await group?.stop();
  });

  it('runs every accepted command once, with exactly one audit record saying what it did', async () => {
    const { REDIS_URL: _url, ...env } = world.env;
    bot = await startBotProcess({
      ...env,
      REDIS_SENTINELS: group.sentinels,
      REDIS_SENTINEL_NAME: group.name,
    });

    const sent: { target: string; replicas: number; text: string; phase: 'before' | 'during' | 'after' }[] =
      [];
    const send = async (i: number, phase: 'before' | 'during' | 'after') => {
      const target = TARGETS[i % TARGETS.length]!;
      const replicas = 2 + i;
      const ack = await slash(bot!.url, world, `scale ${target} ${replicas} --env staging`);
      sent.push({ target, replicas, text: ack.body.text ?? `HTTP ${ack.status}`, phase });
      await sleep(250);
    };
    for (let i = 0; i < KILL_AFTER; i++) await send(i, 'before');
    await group.killMaster();
    // While the sentinels notice and elect (down after 1 s), commands keep coming.
    for (let i = KILL_AFTER; i < 2 * KILL_AFTER; i++) await send(i, 'during');
    await until(
      async () => (await group.currentMasterPort()) === group.replicaPort,
      30_000,
      'the sentinels to promote the replica',
    );
    await until(() => redisReady(bot!.url), 30_000, 'the bot to follow the failover').catch((err: Error) => {
      const trouble = bot!.lines.filter((l) => l.level >= 40).map((l) => JSON.stringify(l).slice(0, 300));
      // The first warnings say what went wrong; the last ones only repeat the readiness failure.
      throw new Error(
        `${err.message}\nwarnings:\n${[...trouble.slice(0, 15), '…', ...trouble.slice(-3)].join('\n')}`,
      );
    });
    for (let i = 2 * KILL_AFTER; i < COMMANDS; i++) await send(i, 'after');

    const accepted = sent.flatMap((s) => {
      const jobId = /^Accepted: .*\(job (\S+)\)\.$/.exec(s.text)?.[1];
      return jobId ? [{ ...s, jobId }] : [];
    });
    // Every command before the kill and after the failover is accepted; during it, some may be refused.
    const replies = JSON.stringify(sent.map((x) => `${x.phase}: ${x.text.slice(0, 70)}`));
    expect(
      accepted.filter((a) => a.phase === 'before'),
      replies,
    ).toHaveLength(KILL_AFTER);
    expect(
      accepted.filter((a) => a.phase === 'after'),
      replies,
    ).toHaveLength(COMMANDS - 2 * KILL_AFTER);

    await until(
      () => accepted.every((a) => auditRecords(world).some((r) => r.jobId === a.jobId)),
      45_000,
      'an audit record for every accepted command',
    ).catch((err: Error) => {
      const trouble = bot!.lines.filter((l) => l.level >= 40).map((l) => JSON.stringify(l).slice(0, 300));
      // The first warnings say what went wrong; the last ones only repeat the readiness failure.
      throw new Error(
        `${err.message}\nwarnings:\n${[...trouble.slice(0, 15), '…', ...trouble.slice(-3)].join('\n')}`,
      );
    });
    // Time for a duplicate run, had there been one, to show up.
    await sleep(2_000);

    const scaleRecords = auditRecords(world).filter((r) => r.action === 'scale');
    expect(scaleRecords).toHaveLength(accepted.length);
    for (const a of accepted) {
      const records = scaleRecords.filter((r) => r.jobId === a.jobId);
      expect(records, a.jobId).toHaveLength(1);
      expect(records[0], a.jobId).toMatchObject({
        outcome: 'executed',
        action: 'scale',
        environment: 'staging',
        target: a.target,
        after: { replicas: a.replicas },
      });
      expect(scaleWrites(world, a.target, a.replicas), `${a.target} → ${a.replicas}`).toHaveLength(1);
    }
    // The queue lived in the Sentinel group (now on the promoted replica), not on a default Redis.
    const prefix = world.env.OPSBOT_QUEUE_PREFIX!;
    expect((await group.keys(`${prefix}:commands:*`)).length).toBeGreaterThan(0);
    const fallback = new Redis(testRedisUrl());
    try {
      expect(await fallback.keys(`${prefix}:*`)).toEqual([]);
    } finally {
      fallback.disconnect();
    }
    // A command that was not accepted (its reply said so) changed nothing and left no record.
    for (const s of sent.filter((x) => !accepted.some((a) => a.replicas === x.replicas))) {
      expect(scaleWrites(world, s.target, s.replicas), s.text).toHaveLength(0);
    }
  }, 90_000);
});
