import type { Logger } from 'pino';
import type { AuditRecord } from '../core/audit.js';
import { formatDuration } from '../core/duration.js';
import type { Jobs, RateDecision, RateLimiter } from '../ports.js';
import type { QueueBackend } from './backend.js';
import type { RedisClient } from './connection.js';

export const RATE_SUMMARY_QUEUE = 'rate-limit-summaries';
/** A window's count is kept this long once it went over the limit, so its summary can still read it. */
const REFUSED_KEEP_MS = 7 * 24 * 3_600_000;
/** The summary is written this long after its window closed, when no more refusals can join it. */
const SUMMARY_GRACE_MS = 500;

/** Counts requests per key and fixed window. */
export interface RateCounter {
  /** Counts one request and answers the window's count, this one included. One round trip. */
  hit(key: string, windowMs: number, limit: number): Promise<number>;
  /** The window's count, or 0 once it expired. */
  read(key: string): Promise<number>;
}

// INCR, the window's expiry on the first hit, and a long expiry once over the limit: one round trip.
const HIT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n == tonumber(ARGV[2]) + 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return n`;

type HitCommand = (key: string, windowMs: number, limit: number, keepMs: number) => Promise<number>;

/** Shared by every replica: the limit holds for a user however the load balancer spreads requests. */
export class RedisRateCounter implements RateCounter {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    // defineCommand sends EVALSHA, falling back to EVAL once when Redis does not know the script.
    if (!(redis as unknown as { opsbotRateHit?: unknown }).opsbotRateHit) {
      redis.defineCommand('opsbotRateHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
    }
  }

  async hit(key: string, windowMs: number, limit: number): Promise<number> {
    const run = (this.redis as unknown as { opsbotRateHit: HitCommand }).opsbotRateHit.bind(this.redis);
    return Number(await run(`${this.prefix}:rate:${key}`, windowMs * 2, limit, REFUSED_KEEP_MS));
  }

  async read(key: string): Promise<number> {
    return Number((await this.redis.get(`${this.prefix}:rate:${key}`)) ?? 0);
  }
}

/** For the in-process queue of local mode: one process, one map. */
export class MemoryRateCounter implements RateCounter {
  private readonly counts = new Map<string, { n: number; expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async hit(key: string, windowMs: number, limit: number): Promise<number> {
    const now = this.now();
    if (this.counts.size > 10_000) {
      for (const [k, v] of this.counts) if (v.expiresAt <= now) this.counts.delete(k);
    }
    const entry = this.counts.get(key);
    const current = entry && entry.expiresAt > now ? entry : { n: 0, expiresAt: now + windowMs * 2 };
    current.n++;
    if (current.n === limit + 1) current.expiresAt = now + REFUSED_KEEP_MS;
    this.counts.set(key, current);
    return current.n;
  }

  async read(key: string): Promise<number> {
    const entry = this.counts.get(key);
    return entry && entry.expiresAt > this.now() ? entry.n : 0;
  }
}

export interface RateLimitOptions {
  backend: QueueBackend;
  counter: RateCounter;
  jobs: Pick<Jobs, 'enqueueAudit'>;
  log: Logger;
  /** Requests allowed per user in each window of `per` ms. */
  count: number;
  per: number;
}

interface SummaryTask {
  person: { id: string; name?: string | undefined };
  windowStart: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
/** Slack user ids are [A-Z0-9]; anything else is kept out of Redis keys and job ids. */
const keyOf = (userId: string, windowStart: number) =>
  `${userId.replace(/[^A-Za-z0-9]/g, '_')}-${windowStart}`;

/**
 * Fixed windows per user. A request past the limit is refused, and never silently: the first refusal
 * of a window schedules one audit record for the window's end, which counts every refusal in it.
 */
export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const { count: limit, per, counter } = options;
  const summaries = options.backend.define<SummaryTask>(
    RATE_SUMMARY_QUEUE,
    async (task) => {
      const { person, windowStart } = task.data;
      const counted = await counter.read(keyOf(person.id, windowStart));
      const refused = Math.max(1, counted - limit);
      const who = person.name ? `@${person.name}` : person.id;
      const end = windowStart + per;
      const record: AuditRecord = {
        id: `rate-limited-${keyOf(person.id, windowStart)}`,
        time: iso(end),
        outcome: 'refused',
        action: 'rate-limit',
        requester: person,
        args: { refused, limit, per: formatDuration(per), from: iso(windowStart), to: iso(end) },
        message: `Refused ${refused} request(s) from ${who} between ${iso(windowStart)} and ${iso(end)}: over the limit of ${limit} per ${formatDuration(per)}.`,
      };
      await options.jobs.enqueueAudit(record);
      options.log.warn({ user: person.id, refused, limit }, 'requests refused over the rate limit');
    },
    { concurrency: 2, attempts: 50 },
  );

  // Windows this process has scheduled a summary for; a failed add is tried again on the next refusal.
  const scheduled = new Map<string, number>();
  return {
    async take(person, now): Promise<RateDecision> {
      const windowStart = Math.floor(now / per) * per;
      const key = keyOf(person.id, windowStart);
      const n = await counter.hit(key, per, limit);
      if (n <= limit) return { allowed: true };
      if (!scheduled.has(key)) {
        // One summary per user and window: its task id makes an add by another replica a no-op.
        await summaries.add(
          `rate-${key}`,
          { person: { id: person.id, ...(person.name ? { name: person.name } : {}) }, windowStart },
          { delayMs: windowStart + per - now + SUMMARY_GRACE_MS },
        );
        for (const [k, start] of scheduled) if (start < windowStart) scheduled.delete(k);
        scheduled.set(key, windowStart);
      }
      return { allowed: false, limit, perMs: per, retryAfterMs: windowStart + per - now };
    },
  };
}
