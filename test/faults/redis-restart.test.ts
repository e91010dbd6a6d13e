import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { slash, startWorld, type World } from '../helpers/world.js';
import {
  generationOf,
  type RedisServer,
  recordsFor,
  sleep,
  startRedisServer,
  until,
  writesTo,
} from './support.js';

async function redisReady(url: string): Promise<boolean> {
  const res = await fetch(`${url}/readyz`).catch(() => undefined);
  if (!res) return false;
  const body = (await res.json()) as { checks: { name: string; ok: boolean }[] };
  return body.checks.some((c) => c.name === 'redis' && c.ok);
}

describe('Redis restarted in the middle of a run (AOF on)', () => {
  let redis: RedisServer;
  let world: World;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
    world = await startWorld({ rolloutStepMs: 400 });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
    await redis?.stop();
  });

  it('loses no accepted action and no audit record', async () => {
    bot = await startBotProcess({ ...world.env, REDIS_URL: redis.url });
    const generations = { api: generationOf(world, 'api'), worker: generationOf(world, 'worker') };
    // GitHub is down meanwhile, so the audit records are still queued in Redis when it dies.
    world.github.failFor({ status: 502, durationMs: 6_000 });

    const api = await slash(bot.url, world, 'restart api --env staging');
    const worker = await slash(bot.url, world, 'restart worker --env staging');
    expect(api.body.text).toMatch(/^Accepted/);
    expect(worker.body.text).toMatch(/^Accepted/);
    await until(
      () => writesTo(world, 'api').length > 0 && writesTo(world, 'worker').length > 0,
      15_000,
      'both restarts to be applied',
    );

    await redis.kill();
    await sleep(1_500);
    await redis.start();
    await until(() => redisReady(bot!.url), 20_000, 'the bot to reconnect to Redis');

    const web = await slash(bot.url, world, 'scale web 3 --env staging');
    expect(web.body.text).toMatch(/^Accepted/);

    await until(
      () => ['api', 'worker', 'web'].every((t) => recordsFor(world, t).length > 0),
      45_000,
      'an audit record for each accepted action',
    );
    await sleep(1_500);
    for (const target of ['api', 'worker', 'web']) {
      expect(writesTo(world, target), target).toHaveLength(1);
      expect(recordsFor(world, target), target).toHaveLength(1);
      expect(recordsFor(world, target)[0]?.outcome, target).toBe('executed');
    }
    expect(generationOf(world, 'api') - generations.api).toBe(1);
    expect(generationOf(world, 'worker') - generations.worker).toBe(1);
    expect(world.kube.getDeployment('apps', 'web')?.spec.replicas).toBe(3);
  }, 90_000);
});
