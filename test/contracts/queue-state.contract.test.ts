import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../src/core/undo.js';
import type { ApprovalRequest, Approvals, Ledger, Locks } from '../../src/ports.js';
import { RedisApprovals } from '../../src/queue/approvals.js';
import { type QueueBackend, RetryLater, type Task, Unrecoverable } from '../../src/queue/backend.js';
import { BullBackend } from '../../src/queue/bull-backend.js';
import { createRedis } from '../../src/queue/connection.js';
import { MemoryLedger, RedisLedger } from '../../src/queue/ledger.js';
import { RedisLocks } from '../../src/queue/locks.js';
import { MemoryBackend } from '../../src/queue/memory-backend.js';
import { MemoryApprovals, MemoryLocks } from '../../src/queue/memory-state.js';
import { silentLog } from '../helpers/fake-ports.js';

/**
 * One contract, every implementation: the BullMQ backend on real Redis and the in-process one
 * (local mode) must behave alike, as bullmq runs one test suite against each of its backends.
 * The same holds for the target locks and the approval store.
 */
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const connections: ReturnType<typeof createRedis>[] = [];
const backends: QueueBackend[] = [];
function redis(purpose: 'queue' | 'worker' = 'queue') {
  const r = createRedis(REDIS_URL, purpose, silentLog);
  connections.push(r);
  return r;
}
afterAll(async () => {
  for (const b of backends) await b.stopWorkers(true);
  for (const b of backends) await b.close();
  await Promise.all(connections.map((c) => c.quit()));
});

const makeBackend: Record<string, () => QueueBackend> = {
  bullmq: () => new BullBackend(redis(), redis('worker'), `test-${randomUUID()}`, silentLog, 2_000),
  memory: () => new MemoryBackend(silentLog),
};

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(Object.keys(makeBackend))('queue backend contract: %s', (kind) => {
  const fresh = () => {
    const backend = makeBackend[kind]!();
    backends.push(backend);
    return backend;
  };

  it('runs a task once; the same id added again is a duplicate and adds nothing', async () => {
    const backend = fresh();
    const seen: string[] = [];
    const queue = backend.define<{ n: number }>(
      'once',
      async (task) => void seen.push(`${task.id}:${task.data.n}`),
      {
        concurrency: 2,
        attempts: 3,
      },
    );
    expect(await queue.add('t1', { n: 1 })).toEqual({ duplicate: false });
    expect(await queue.add('t1', { n: 2 })).toEqual({ duplicate: true });
    await until(() => seen.length > 0);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toEqual(['t1:1']);
  });

  it('retries a failing task up to its attempts; an unrecoverable failure stops at once', async () => {
    const backend = fresh();
    const attempts: Record<string, number[]> = { flaky: [], broken: [] };
    const failed: string[] = [];
    backend.onFailed((_queue, err) => failed.push(err.message));
    const queue = backend.define<{ kind: 'flaky' | 'broken' }>(
      'retries',
      async (task: Task<{ kind: 'flaky' | 'broken' }>) => {
        attempts[task.data.kind]!.push(task.attempt);
        if (task.data.kind === 'broken') throw new Unrecoverable('broken for good');
        if (task.attempt < 3) throw new Error(`attempt ${task.attempt} failed`);
      },
      { concurrency: 1, attempts: 3 },
    );
    await queue.add('f', { kind: 'flaky' });
    await queue.add('b', { kind: 'broken' });
    await until(() => attempts.flaky!.length === 3 && attempts.broken!.length === 1, 15_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(attempts).toEqual({ flaky: [1, 2, 3], broken: [1] });
    expect(failed).toEqual(
      expect.arrayContaining(['attempt 1 failed', 'attempt 2 failed', 'broken for good']),
    );
  });

  it('waits behind RetryLater without using up an attempt', async () => {
    const backend = fresh();
    const attempts: number[] = [];
    let busy = 2;
    const queue = backend.define<object>(
      'later',
      async (task) => {
        attempts.push(task.attempt);
        if (busy-- > 0) throw new RetryLater(50, 'busy');
      },
      { concurrency: 1, attempts: 1 },
    );
    await queue.add('l', {});
    await until(() => attempts.length === 3);
    expect(attempts).toEqual([1, 1, 1]);
  });

  it('keeps what a task saves for its next attempt (checkpoints)', async () => {
    const backend = fresh();
    const seen: unknown[] = [];
    const queue = backend.define<{ step: number }>(
      'checkpoints',
      async (task) => {
        seen.push(task.data.step);
        if (task.data.step === 0) {
          await task.update({ step: 1 });
          throw new Error('crash after the checkpoint');
        }
      },
      { concurrency: 1, attempts: 2 },
    );
    await queue.add('c', { step: 0 });
    await until(() => seen.length === 2, 15_000);
    expect(seen).toEqual([0, 1]);
  });

  it('holds a task added before any worker until one is registered (a web-only process)', async () => {
    const backend = fresh();
    const queue = backend.queue<{ n: number }>('producer-only', { attempts: 1 });
    await queue.add('p', { n: 7 });
    await new Promise((r) => setTimeout(r, 200));
    const seen: number[] = [];
    backend.process<{ n: number }>('producer-only', async (task) => void seen.push(task.data.n), {
      concurrency: 1,
    });
    await until(() => seen.length === 1);
    expect(seen).toEqual([7]);
  });

  it('runs a delayed task no earlier than asked', async () => {
    const backend = fresh();
    const ranAt: number[] = [];
    const queue = backend.define<object>('delayed', async () => void ranAt.push(Date.now()), {
      concurrency: 1,
      attempts: 1,
    });
    const added = Date.now();
    await queue.add('d', {}, { delayMs: 400 });
    await until(() => ranAt.length === 1);
    expect(ranAt[0]! - added).toBeGreaterThanOrEqual(380);
  });

  it('lets a running task finish when workers stop', async () => {
    const backend = fresh();
    let finished = false;
    const queue = backend.define<object>(
      'drain',
      async () => {
        await new Promise((r) => setTimeout(r, 300));
        finished = true;
      },
      { concurrency: 1, attempts: 1 },
    );
    await queue.add('x', {});
    await new Promise((r) => setTimeout(r, 100));
    await backend.stopWorkers();
    expect(finished).toBe(true);
  });
});

const makeLocks: Record<string, () => Locks> = {
  redis: () => new RedisLocks(redis(), `test-${randomUUID()}`, silentLog, 300),
  memory: () => new MemoryLocks(),
};

describe.each(Object.keys(makeLocks))('target lock contract: %s', (kind) => {
  it('is held by one holder at a time, taken back by the same holder, and freed on release', async () => {
    const locks = makeLocks[kind]!();
    const a = await locks.acquire('staging/api', 'job-a', 'restart api (job A)');
    expect(a.acquired).toBe(true);
    expect(await locks.acquire('staging/api', 'job-b', 'rollback api (job B)')).toEqual({
      acquired: false,
      heldBy: 'restart api (job A)',
    });
    // A recovered job takes its own lock back.
    const again = await locks.acquire('staging/api', 'job-a', 'restart api (job A)');
    expect(again.acquired).toBe(true);
    expect(again.acquired && again.lost()).toBe(false);
    if (a.acquired) await a.release();
    const b = await locks.acquire('staging/api', 'job-b', 'rollback api (job B)');
    expect(b.acquired).toBe(true);
    if (b.acquired) await b.release();
  });

  it('keeps separate targets apart', async () => {
    const locks = makeLocks[kind]!();
    const api = await locks.acquire('staging/api', 'j1', 'one');
    const web = await locks.acquire('staging/web', 'j2', 'two');
    expect([api.acquired, web.acquired]).toEqual([true, true]);
    for (const l of [api, web]) if (l.acquired) await l.release();
  });
});

const makeApprovals: Record<string, () => Approvals> = {
  redis: () => new RedisApprovals(redis(), `test-${randomUUID()}`),
  memory: () => new MemoryApprovals(),
};

function request(id: string): ApprovalRequest {
  return {
    id,
    status: 'pending',
    job: {
      id: 'cmd-1-run',
      command: 'rollback',
      input: { words: ['api'], flags: { env: 'prod' } },
      requester: { id: 'U1' },
      channel: { id: 'C1' },
      requestedAt: 1,
      stage: 'run',
    },
    plan: ['Image: a → b'],
    specVersion: '3/0d5e6a3c-uid',
    environment: 'prod',
    target: 'api',
    channel: 'C1',
    messageTs: '',
    expiresAt: Date.now() + 60_000,
  };
}

describe.each(Object.keys(makeApprovals))('approval store contract: %s', (kind) => {
  it('creates once, attaches the message, and decides once; a retried create resets nothing', async () => {
    const approvals = makeApprovals[kind]!();
    const id = 'a'.repeat(32);
    await approvals.create(request(id));
    await approvals.attachMessage(id, '17.5');
    const decided = await approvals.decide(id, 'approved', { id: 'U2' }, { deliveryId: 'click-1' });
    expect(decided?.won).toBe(true);
    await approvals.create(request(id));
    const now = await approvals.get(id);
    expect(now).toMatchObject({ status: 'approved', messageTs: '17.5', decidedBy: { id: 'U2' } });
    // What the approved job is checked against must survive the store.
    expect(now?.specVersion).toBe('3/0d5e6a3c-uid');
    expect(now?.decidedVia).toBe('click-1');
    expect((await approvals.decide(id, 'denied', { id: 'U3' }))?.won).toBe(false);
    expect(await approvals.get('f'.repeat(32))).toBeUndefined();
  });

  it('keeps the job an approval starts in the outbox until it is settled', async () => {
    const approvals = makeApprovals[kind]!();
    const id = 'b'.repeat(32);
    await approvals.create(request(id));
    const job = { ...request(id).job, approver: { id: 'U2' } };
    await approvals.decide(id, 'approved', { id: 'U2' }, { startJob: job });
    expect((await approvals.outbox()).map((e) => [e.approvalId, e.job.id, e.job.approver?.id])).toEqual([
      [id, 'cmd-1-run', 'U2'],
    ]);
    await approvals.settle(id);
    expect(await approvals.outbox()).toEqual([]);
  });
});

const makeLedger: Record<string, () => Ledger> = {
  redis: () => new RedisLedger(redis(), `test-${randomUUID()}`),
  memory: () => new MemoryLedger(),
};

describe.each(Object.keys(makeLedger))('ledger contract: %s', (kind) => {
  const entry = (recordId: string, jobId: string, time: string, touches = ['staging/api']): LedgerEntry => ({
    recordId,
    jobId,
    auditId: `${jobId}-executed`,
    auditPath: `audit/${recordId}.json`,
    action: 'scale',
    environment: 'staging',
    target: 'api',
    time,
    requester: { id: 'U1', name: 'alice' },
    reversal: { kind: 'scale', environment: 'staging', deployment: 'api', from: 2, to: 5 },
    touches,
  });

  it('finds an entry by id; an id that belongs to another job is refused, and the first write stays', async () => {
    const ledger = makeLedger[kind]!();
    const first = entry('aaaaaaaa', 'cmd-1', '2026-12-07T01:00:00.000Z');
    expect(await ledger.save(first)).toBe(true);
    expect(await ledger.save(entry('aaaaaaaa', 'cmd-2', '2026-12-07T01:05:00.000Z'))).toBe(false);
    // A retry of the same job is answered yes, and what it wrote first is kept.
    expect(await ledger.save({ ...first, time: '2026-12-07T01:09:00.000Z' })).toBe(true);
    expect(await ledger.get('aaaaaaaa')).toEqual(first);
    expect(await ledger.get('bbbbbbbb')).toBeUndefined();
  });

  it('lists the entries of a target newest first, found under its own target and every one it touched', async () => {
    const ledger = makeLedger[kind]!();
    await ledger.save(entry('aaaaaaaa', 'cmd-1', '2026-12-07T01:00:00.000Z'));
    await ledger.save(entry('cccccccc', 'cmd-3', '2026-12-07T01:10:00.000Z'));
    await ledger.save(entry('bbbbbbbb', 'cmd-2', '2026-12-07T01:05:00.000Z', ['staging/web']));
    expect((await ledger.recent('staging/api', 10)).map((e) => e.recordId)).toEqual([
      'cccccccc',
      'bbbbbbbb',
      'aaaaaaaa',
    ]);
    expect((await ledger.recent('staging/web', 10)).map((e) => e.recordId)).toEqual(['bbbbbbbb']);
    expect((await ledger.recent('staging/api', 1)).map((e) => e.recordId)).toEqual(['cccccccc']);
  });
});
