import type { Redis } from 'ioredis';
import type { LockResult, Locks } from '../ports.js';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

interface Holder {
  id: string;
  description: string;
}

/**
 * Target locks in Redis (SET NX PX), renewed while held, so a crashed worker frees its target
 * within one TTL. The value names the holder, so a waiting requester can be told who is ahead.
 */
export class RedisLocks implements Locks {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs = 30_000,
  ) {}

  async acquire(key: string, holderId: string, description: string): Promise<LockResult> {
    const redisKey = `${this.prefix}:lock:${key}`;
    const value = JSON.stringify({ id: holderId, description } satisfies Holder);
    const set = await this.redis.set(redisKey, value, 'PX', this.ttlMs, 'NX');
    if (set !== 'OK') {
      const current = await this.redis.get(redisKey);
      const holder = current ? (JSON.parse(current) as Holder) : undefined;
      if (holder?.id !== holderId)
        return { acquired: false, heldBy: holder?.description ?? 'another action' };
      // Our own job, recovered after a crash: take the lock back under the same value.
      await this.redis.set(redisKey, value, 'PX', this.ttlMs);
    }
    const renew = setInterval(() => {
      this.redis.eval(RENEW, 1, redisKey, value, String(this.ttlMs)).catch(() => undefined);
    }, this.ttlMs / 3);
    renew.unref();
    return {
      acquired: true,
      release: async () => {
        clearInterval(renew);
        await this.redis.eval(RELEASE, 1, redisKey, value);
      },
    };
  }
}
