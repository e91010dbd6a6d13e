import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisLocks } from '../../src/queue/locks.js';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
afterAll(async () => {
  await redis.quit();
});

describe('RedisLocks', () => {
  it('lets a recovered job take back its own lock without ever overwriting another holder', async () => {
    const prefix = `test-${randomUUID()}`;
    const key = `${prefix}:lock:staging/api`;
    // Job A held the lock and crashed; its lock is about to expire.
    await redis.set(key, JSON.stringify({ id: 'job-a', description: 'restart api (job A)' }), 'PX', 30_000);
    // A client that lets job B in at the worst moment: right after A's read of the lock, it expires and B takes it.
    const racy = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const b = new RedisLocks(redis, prefix);
    let bResult: Awaited<ReturnType<RedisLocks['acquire']>> | undefined;
    const get = racy.get.bind(racy);
    racy.get = (async (k: string) => {
      const value = await get(k);
      await redis.del(key);
      bResult = await b.acquire('staging/api', 'job-b', 'rollback api (job B)');
      return value;
    }) as typeof racy.get;
    const a = await new RedisLocks(racy, prefix).acquire('staging/api', 'job-a', 'restart api (job A)');
    bResult ??= await b.acquire('staging/api', 'job-b', 'rollback api (job B)');

    const holders = [a, bResult].filter((r) => r.acquired);
    expect(holders, 'exactly one holder at a time').toHaveLength(1);
    const owner = JSON.parse((await redis.get(key)) ?? '{}') as { id?: string };
    expect(owner.id).toBe(a.acquired ? 'job-a' : 'job-b');
    if (!bResult.acquired) expect(bResult.heldBy).toBe('restart api (job A)');
    for (const h of holders) if (h.acquired) await h.release();
    racy.disconnect();
  });

  it('reports a lock lost to another holder instead of renewing it silently', async () => {
    const prefix = `test-${randomUUID()}`;
    const errors: unknown[] = [];
    const log = { error: (o: unknown) => errors.push(o), warn: () => {} };
    const a = await new RedisLocks(redis, prefix, log, 300).acquire('staging/api', 'job-a', 'job A');
    expect(a.acquired && a.lost()).toBe(false);
    // A stalled renewal let the lock expire, and someone else took it.
    await redis.set(`${prefix}:lock:staging/api`, JSON.stringify({ id: 'job-b', description: 'job B' }));
    await new Promise((r) => setTimeout(r, 350));
    expect(a.acquired && a.lost()).toBe(true);
    expect(errors).toHaveLength(1);
    if (a.acquired) await a.release();
    // Releasing a lost lock leaves the new holder's lock alone.
    expect(JSON.parse((await redis.get(`${prefix}:lock:staging/api`)) ?? '{}')).toMatchObject({
      id: 'job-b',
    });
  });
});
