import { AuditRecord } from '../core/audit.js';
import type { RecentActions } from '../ports.js';
import type { RedisClient } from './connection.js';

/** Records kept: enough that the last 10 a user may see survive other environments' traffic. */
const KEPT = 500;

/** Newest first, each id once, parsed back with the schema it was written with. */
function pick(raw: readonly string[], limit: number, keep: (r: AuditRecord) => boolean): AuditRecord[] {
  const seen = new Set<string>();
  const out: AuditRecord[] = [];
  for (const text of raw) {
    let parsed: ReturnType<typeof AuditRecord.safeParse>;
    try {
      parsed = AuditRecord.safeParse(JSON.parse(text));
    } catch {
      continue;
    }
    if (!parsed.success || seen.has(parsed.data.id)) continue;
    seen.add(parsed.data.id);
    if (keep(parsed.data)) out.push(parsed.data);
    if (out.length >= limit) break;
  }
  return out;
}

/** In Redis: a capped list of records and a set of Home viewers, shared by every replica. */
export class RedisRecentActions implements RecentActions {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private get listKey() {
    return `${this.prefix}:recent-actions`;
  }

  private get viewersKey() {
    return `${this.prefix}:home-viewers`;
  }

  async add(record: AuditRecord): Promise<void> {
    await this.redis
      .multi()
      .lpush(this.listKey, JSON.stringify(record))
      .ltrim(this.listKey, 0, KEPT - 1)
      .exec();
  }

  async latest(limit: number, keep: (record: AuditRecord) => boolean): Promise<AuditRecord[]> {
    return pick(await this.redis.lrange(this.listKey, 0, KEPT - 1), limit, keep);
  }

  async addHomeViewer(userId: string): Promise<void> {
    await this.redis.sadd(this.viewersKey, userId);
  }

  async isHomeViewer(userId: string): Promise<boolean> {
    return (await this.redis.sismember(this.viewersKey, userId)) === 1;
  }
}

/** For a single process (local mode). */
export class MemoryRecentActions implements RecentActions {
  private readonly records: string[] = [];
  private readonly viewers = new Set<string>();

  async add(record: AuditRecord): Promise<void> {
    this.records.unshift(JSON.stringify(record));
    this.records.length = Math.min(this.records.length, KEPT);
  }

  async latest(limit: number, keep: (record: AuditRecord) => boolean): Promise<AuditRecord[]> {
    return pick(this.records, limit, keep);
  }

  async addHomeViewer(userId: string): Promise<void> {
    this.viewers.add(userId);
  }

  async isHomeViewer(userId: string): Promise<boolean> {
    return this.viewers.has(userId);
  }
}
