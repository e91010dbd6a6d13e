import type { Logger } from 'pino';
import type { LockResult, Locks } from '../ports.js';
import type { RedisClient } from './connection.js';

/**
 * Take the lock if it is free, or take it back if this holder already has it (a job recovered
 * after a crash), in one step: a separate GET and SET could overwrite a holder who got in between.
 * Answers 1 when held by us now, else the current holder's value.
 */
const ACQUIRE = `
local current = redis.call('get', KEYS[1])
if current == false then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return 1
end
local ok, holder = pcall(cjson.decode, current)
if ok and type(holder) == 'table' and holder.id == ARGV[2] then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return 1
end
return current`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

interface Holder {
  id: string;
  description: string;
}

/**
 * Target locks in Redis, renewed while held, so a crashed worker frees its target within one TTL.
 * The value names the holder, so a waiting requester can be told who is ahead. A lock that
 * renewal finds taken by someone else is reported as lost (logged, and `lost()` answers true),
 * never silently.
 */
export class RedisLocks implements Locks {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly log?: Pick<Logger, 'error' | 'warn'>,
    private readonly ttlMs = 30_000,
  ) {}

  async acquire(key: string, holderId: string, description: string): Promise<LockResult> {
    const redisKey = `${this.prefix}:lock:${key}`;
    const value = JSON.stringify({ id: holderId, description } satisfies Holder);
    const result = await this.redis.eval(ACQUIRE, 1, redisKey, value, holderId, String(this.ttlMs));
    if (result !== 1) {
      let heldBy = 'another action';
      try {
        heldBy = (JSON.parse(String(result)) as Holder).description ?? heldBy;
      } catch {
        // A value we did not write: still someone else's lock.
      }
      return { acquired: false, heldBy };
    }
    let lost = false;
    const renew = setInterval(() => {
      this.redis.eval(RENEW, 1, redisKey, value, String(this.ttlMs)).then(
        (renewed) => {
          if (renewed === 1 || lost) return;
          lost = true;
          clearInterval(renew);
          this.log?.error({ lock: key, holder: holderId }, 'lost a target lock: another holder has it now');
        },
        (err: unknown) => this.log?.warn({ err, lock: key }, 'could not renew a target lock; retrying'),
      );
    }, this.ttlMs / 3);
    renew.unref();
    return {
      acquired: true,
      lost: () => lost,
      release: async () => {
        clearInterval(renew);
        await this.redis.eval(RELEASE, 1, redisKey, value);
      },
    };
  }
}
