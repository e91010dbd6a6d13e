import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { CommandJob, type CommandJobInput, Person } from '../core/command-job.js';
import type { ApprovalRequest, ApprovalStatus, Approvals } from '../ports.js';
import type { RedisClient } from './connection.js';

/** The immutable part of a request, stored once as JSON; status and message live in their own fields. */
const StoredRequest = z.object({
  id: z.string(),
  job: CommandJob,
  plan: z.array(z.string()),
  specVersion: z.string().optional(),
  /** Only in requests stored before specVersion existed; their approved job keeps the stricter check. */
  resourceVersion: z.string().optional(),
  environment: z.string(),
  target: z.string().optional(),
  channel: z.string(),
  expiresAt: z.number(),
});
const Status = z.enum(['pending', 'approved', 'denied', 'expired']);

/** Create-if-absent, so a retried job never resets a request someone already decided. */
const CREATE = `
if redis.call('exists', KEYS[1]) == 1 then return 0 end
redis.call('hset', KEYS[1], 'doc', ARGV[1], 'status', ARGV[2], 'messageTs', ARGV[3])
redis.call('pexpire', KEYS[1], ARGV[4])
return 1`;

/**
 * Compare-and-set in one step, so two simultaneous clicks cannot both win. An approval puts the job
 * it starts into the outbox (KEYS[2]) in the same step: the decision and its job are one write.
 */
const DECIDE = `
if redis.call('exists', KEYS[1]) == 0 then return nil end
local status = redis.call('hget', KEYS[1], 'status')
if status ~= 'pending' then return 0 end
redis.call('hset', KEYS[1], 'status', ARGV[1], 'decidedBy', ARGV[2], 'decidedVia', ARGV[5])
if ARGV[3] ~= '' then redis.call('hset', KEYS[2], ARGV[4], ARGV[3]) end
return 1`;

/** Only an existing request gets its message attached; a late call never resurrects one. */
const ATTACH = `
if redis.call('exists', KEYS[1]) == 0 then return 0 end
redis.call('hset', KEYS[1], 'messageTs', ARGV[1])
return 1`;

/** Decided requests are kept a week so late or replayed clicks get a precise answer. */
const KEEP_AFTER_EXPIRY_MS = 7 * 24 * 3600_000;

export function newApprovalId(): string {
  return randomBytes(16).toString('hex');
}

const ID = /^[0-9a-f]{32}$/;

export class RedisApprovals implements Approvals {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:approval:${id}`;
  }

  async create(request: ApprovalRequest): Promise<void> {
    const key = this.key(request.id);
    const { status, messageTs, decidedBy: _decidedBy, ...fixed } = request;
    const ttl = Math.max(1, request.expiresAt - Date.now()) + KEEP_AFTER_EXPIRY_MS;
    await this.redis.eval(CREATE, 1, key, JSON.stringify(fixed), status, messageTs, String(ttl));
  }

  async attachMessage(id: string, messageTs: string): Promise<void> {
    if (ID.test(id)) await this.redis.eval(ATTACH, 1, this.key(id), messageTs);
  }

  async get(id: string): Promise<ApprovalRequest | undefined> {
    if (!ID.test(id)) return undefined;
    const fields = await this.redis.hgetall(this.key(id));
    if (!fields.doc) return undefined;
    const fixed = StoredRequest.parse(JSON.parse(fields.doc));
    const messageTs = fields.messageTs ?? '';
    return {
      ...fixed,
      specVersion: fixed.specVersion,
      resourceVersion: fixed.resourceVersion,
      target: fixed.target,
      job: messageTs ? { ...fixed.job, progressTs: messageTs } : fixed.job,
      status: Status.parse(fields.status ?? 'pending'),
      messageTs,
      decidedBy: fields.decidedBy ? Person.parse(JSON.parse(fields.decidedBy)) : undefined,
      decidedVia: fields.decidedVia || undefined,
    };
  }

  private outboxKey(): string {
    return `${this.prefix}:approval-outbox`;
  }

  async decide(
    id: string,
    status: Exclude<ApprovalStatus, 'pending'>,
    by?: { id: string; name?: string | undefined },
    options: { startJob?: CommandJobInput | undefined; deliveryId?: string | undefined } = {},
  ) {
    const previous = await this.get(id);
    if (!previous) return undefined;
    const won = await this.redis.eval(
      DECIDE,
      2,
      this.key(id),
      this.outboxKey(),
      status,
      by ? JSON.stringify(by) : '',
      options.startJob ? JSON.stringify(options.startJob) : '',
      id,
      options.deliveryId ?? '',
    );
    if (won === 1) return { previous, won: true };
    // Lost the race: answer with the state as it is now, so the message names who decided.
    return { previous: (await this.get(id)) ?? previous, won: false };
  }

  async outbox(): Promise<{ approvalId: string; job: CommandJobInput }[]> {
    const entries = await this.redis.hgetall(this.outboxKey());
    return Object.entries(entries).flatMap(([approvalId, raw]) => {
      const job = CommandJob.safeParse(JSON.parse(raw));
      return job.success ? [{ approvalId, job: job.data }] : [];
    });
  }

  async settle(approvalId: string): Promise<void> {
    await this.redis.hdel(this.outboxKey(), approvalId);
  }
}
