import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { CommandJob, Person } from '../engine/command-job.js';
import type { ApprovalRequest, ApprovalStatus, Approvals } from '../ports.js';

const StoredApproval = z.object({
  id: z.string(),
  status: z.enum(['pending', 'approved', 'denied', 'expired']),
  job: CommandJob,
  plan: z.array(z.string()),
  resourceVersion: z.string().optional(),
  environment: z.string(),
  target: z.string().optional(),
  channel: z.string(),
  messageTs: z.string(),
  expiresAt: z.number(),
  decidedBy: Person.optional(),
});

/** Compare-and-set in one step, so two simultaneous clicks cannot both win. */
const DECIDE = `
local raw = redis.call('get', KEYS[1])
if not raw then return nil end
local doc = cjson.decode(raw)
if doc.status ~= 'pending' then return {raw, 0} end
doc.status = ARGV[1]
if ARGV[2] ~= '' then doc.decidedBy = cjson.decode(ARGV[2]) end
redis.call('set', KEYS[1], cjson.encode(doc), 'KEEPTTL')
return {raw, 1}`;

/** Decided requests are kept a week so late or replayed clicks get a precise answer. */
const KEEP_AFTER_EXPIRY_MS = 7 * 24 * 3600_000;

export function newApprovalId(): string {
  return randomBytes(16).toString('hex');
}

export class RedisApprovals implements Approvals {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:approval:${id}`;
  }

  async create(request: ApprovalRequest): Promise<void> {
    const ttl = Math.max(1, request.expiresAt - Date.now()) + KEEP_AFTER_EXPIRY_MS;
    await this.redis.set(this.key(request.id), JSON.stringify(request), 'PX', ttl);
  }

  async get(id: string): Promise<ApprovalRequest | undefined> {
    if (!/^[0-9a-f]{32}$/.test(id)) return undefined;
    const raw = await this.redis.get(this.key(id));
    return raw ? parse(raw) : undefined;
  }

  async decide(
    id: string,
    status: Exclude<ApprovalStatus, 'pending'>,
    by?: { id: string; name?: string | undefined },
  ) {
    if (!/^[0-9a-f]{32}$/.test(id)) return undefined;
    const result = (await this.redis.eval(DECIDE, 1, this.key(id), status, by ? JSON.stringify(by) : '')) as
      | [string, number]
      | null;
    if (!result) return undefined;
    return { previous: parse(result[0]), won: result[1] === 1 };
  }
}

function parse(raw: string): ApprovalRequest {
  const data = StoredApproval.parse(JSON.parse(raw));
  return { ...data, resourceVersion: data.resourceVersion, target: data.target, decidedBy: data.decidedBy };
}
