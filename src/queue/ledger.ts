import { LedgerEntry } from '../core/undo.js';
import type { Ledger } from '../ports.js';
import type { RedisClient } from './connection.js';

/** Kept for a year: an undo is asked for days or weeks later, and each entry is a few kilobytes. */
const KEEP_MS = 366 * 24 * 3600_000;
/** Entries listed per target: `/ops history` shows the recent ones. */
const KEEP_PER_TARGET = 200;

/**
 * Claim the id and index it in one step: an id that belongs to another job is never overwritten,
 * and a retried job keeps what it wrote first (records are never edited).
 * KEYS[1] the entry; ARGV[1] job id, ARGV[2] entry JSON, ARGV[3] ttl ms, ARGV[4] score,
 * ARGV[5] record id, ARGV[6] index cap, ARGV[7..] index keys.
 */
const SAVE = `
local owner = redis.call('hget', KEYS[1], 'job')
if owner and owner ~= ARGV[1] then return 0 end
if not owner then
  redis.call('hset', KEYS[1], 'job', ARGV[1], 'doc', ARGV[2])
  redis.call('pexpire', KEYS[1], ARGV[3])
end
for i = 7, #ARGV do
  redis.call('zadd', ARGV[i], ARGV[4], ARGV[5])
  redis.call('zremrangebyrank', ARGV[i], 0, -tonumber(ARGV[6]) - 1)
  redis.call('pexpire', ARGV[i], ARGV[3])
end
return 1`;

/** Index keys are passed as ARGV: they are derived from the entry key's prefix, on one Redis. */
export class RedisLedger implements Ledger {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private entryKey(recordId: string): string {
    return `${this.prefix}:record:${recordId}`;
  }

  private indexKey(key: string): string {
    return `${this.prefix}:records-of:${key}`;
  }

  async save(entry: LedgerEntry): Promise<boolean> {
    const keys = [entry.target ? `${entry.environment}/${entry.target}` : undefined, ...entry.touches]
      .filter((k): k is string => k !== undefined)
      .map((k) => this.indexKey(k));
    const saved = await this.redis.eval(
      SAVE,
      1,
      this.entryKey(entry.recordId),
      entry.jobId,
      JSON.stringify(entry),
      String(KEEP_MS),
      String(Date.parse(entry.time)),
      entry.recordId,
      String(KEEP_PER_TARGET),
      ...new Set(keys),
    );
    return saved === 1;
  }

  async get(recordId: string): Promise<LedgerEntry | undefined> {
    const doc = await this.redis.hget(this.entryKey(recordId), 'doc');
    if (!doc) return undefined;
    // Read back from Redis: validated like any other boundary.
    return LedgerEntry.parse(JSON.parse(doc));
  }

  async recent(key: string, limit: number): Promise<LedgerEntry[]> {
    const ids = await this.redis.zrevrange(this.indexKey(key), 0, limit - 1);
    const entries = await Promise.all(ids.map((id) => this.get(id)));
    return entries.filter((e): e is LedgerEntry => e !== undefined);
  }
}

/** The ledger of a single process (local mode): gone with it, as its queue is. */
export class MemoryLedger implements Ledger {
  private readonly entries = new Map<string, LedgerEntry>();

  async save(entry: LedgerEntry): Promise<boolean> {
    const existing = this.entries.get(entry.recordId);
    if (existing) return existing.jobId === entry.jobId;
    this.entries.set(entry.recordId, structuredClone(entry));
    return true;
  }

  async get(recordId: string): Promise<LedgerEntry | undefined> {
    const found = this.entries.get(recordId);
    return found ? structuredClone(found) : undefined;
  }

  async recent(key: string, limit: number): Promise<LedgerEntry[]> {
    return [...this.entries.values()]
      .filter((e) => e.touches.includes(key) || (e.target && `${e.environment}/${e.target}` === key))
      .sort((a, b) => Date.parse(b.time) - Date.parse(a.time))
      .slice(0, limit)
      .map((e) => structuredClone(e));
  }
}
