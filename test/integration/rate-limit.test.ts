import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { commands } from '../../commands/index.js';
import { OpsbotConfig } from '../../src/config/schema.js';
import type { AuditRecord } from '../../src/core/audit.js';
import { type Ack, acceptCommand } from '../../src/engine/accept-command.js';
import type { Jobs } from '../../src/ports.js';
import type { QueueBackend } from '../../src/queue/backend.js';
import { BullBackend } from '../../src/queue/bull-backend.js';
import { MemoryBackend } from '../../src/queue/memory-backend.js';
import {
  createRateLimiter,
  MemoryRateCounter,
  type RateCounter,
  RedisRateCounter,
} from '../../src/queue/rate-limit.js';
import { until } from '../faults/support.js';
import { DEFAULT_CONFIG, USERS } from '../helpers/world.js';

const config = OpsbotConfig.parse(parseYaml(DEFAULT_CONFIG));
const log = pino({ level: 'silent' });
const LIMIT = 10;
const PER = 1_000;
const FLOOD = 300;

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const connections: Redis[] = [];
const backends: QueueBackend[] = [];

afterAll(async () => {
  for (const backend of backends) await backend.close();
  for (const redis of connections) await redis.quit();
});

function setup(kind: 'redis' | 'memory') {
  let backend: QueueBackend;
  let counter: RateCounter;
  if (kind === 'redis') {
    const prefix = `test-${randomUUID()}`;
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
    const worker = new Redis(redisUrl, { maxRetriesPerRequest: null });
    connections.push(redis, worker);
    backend = new BullBackend(redis, worker, prefix, log);
    counter = new RedisRateCounter(redis, prefix);
  } else {
    backend = new MemoryBackend(log);
    counter = new MemoryRateCounter();
  }
  backends.push(backend);
  const audits: AuditRecord[] = [];
  const queued: string[] = [];
  const jobs: Jobs = {
    enqueueCommand: async (job) => {
      queued.push(job.id);
      return { jobId: job.id, duplicate: false };
    },
    enqueueAudit: async (record) => {
      audits.push(record);
      return { jobId: record.id, duplicate: false };
    },
    scheduleApprovalExpiry: async () => {},
  };
  const limiter = createRateLimiter({ backend, counter, jobs, log, count: LIMIT, per: PER });
  // Early in a window, so the whole flood falls into one.
  const now = Math.floor(Date.now() / PER) * PER + PER + 50;
  let n = 0;
  const send = (user: { id: string; name: string }, text: string): Promise<Ack> =>
    acceptCommand(
      {
        config,
        jobs,
        directory: { userName: async (id) => id, groupsOf: async () => new Set() },
        clock: { now: () => now },
        commands,
        limiter,
      },
      { text, requester: user, channel: { id: 'COPS', name: 'ops' }, deliveryId: `d-${kind}-${n++}` },
    );
  return { audits, queued, send };
}

describe.each(['redis', 'memory'] as const)('the per-user rate limit (%s)', (kind) => {
  it('lets a flood of denials through only up to the limit, and summarises the rest in one record', async () => {
    const { audits, send } = setup(kind);
    const started = performance.now();
    const acks = await Promise.all(
      Array.from({ length: FLOOD }, () => send(USERS.stranger, 'rollback api --env prod --reason "x y z"')),
    );
    const ms = performance.now() - started;
    console.log(`${kind}: ${FLOOD} requests from one user accepted or refused in ${ms.toFixed(0)} ms`);
    const kinds = acks.map((a) => a.kind);
    expect(kinds.filter((k) => k === 'denied')).toHaveLength(LIMIT);
    expect(kinds.filter((k) => k === 'limited')).toHaveLength(FLOOD - LIMIT);
    const limited = acks.find((a) => a.kind === 'limited')!;
    expect(limited.message.text).toMatch(/^Too many requests: at most 10 every 1s\. This one was not run;/);

    // Someone else is not held back by it.
    expect((await send(USERS.oncall, 'status api --env staging')).kind).toBe('queued');

    await until(() => audits.some((a) => a.action === 'rate-limit'), 10_000, 'the summary record');
    // Nothing else arrives for the window: one summary, however many were refused.
    await new Promise((r) => setTimeout(r, 300));
    expect(audits.filter((a) => a.outcome === 'denied')).toHaveLength(LIMIT);
    const summaries = audits.filter((a) => a.action === 'rate-limit');
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({
      outcome: 'refused',
      requester: { id: USERS.stranger.id, name: USERS.stranger.name },
      args: { refused: FLOOD - LIMIT, limit: LIMIT, per: '1s' },
    });
    expect(summaries[0]?.message).toMatch(
      new RegExp(
        `^Refused ${FLOOD - LIMIT} request\\(s\\) from @sam between .*: over the limit of 10 per 1s\\.$`,
      ),
    );
  });
});
