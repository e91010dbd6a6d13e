import { OpsbotConfig } from '../../src/config/schema.js';
import type { AuditRecord } from '../../src/core/audit.js';
import type { CommandJobInput } from '../../src/core/command-job.js';
import type { Message } from '../../src/core/message.js';
import { createLogger } from '../../src/logger.js';
import type { Chat, Clock, Cluster, Directory, EnqueueResult, Jobs } from '../../src/ports.js';

/**
 * In-memory stand-ins for the engine's ports (src/ports.ts), for unit tests of the engine. They
 * keep what they were given and can be told to fail, as the real adapters fail.
 */

export const silentLog = createLogger('silent');

export function testConfig(extra: Record<string, unknown> = {}): OpsbotConfig {
  return OpsbotConfig.parse({
    environments: {
      staging: { context: 'staging', namespace: 'apps' },
      prod: { context: 'prod', namespace: 'apps', protected: true },
    },
    roles: {
      oncall: {
        members: ['UONCALL1', 'UONCALL2'],
        can: [{ actions: ['rollback', 'restart', 'scale', 'status'], environments: ['staging', 'prod'] }],
        approve: ['prod'],
      },
    },
    audit: { repo: 'acme/ops-audit' },
    ...extra,
  });
}

export class ManualClock implements Clock {
  constructor(public time = Date.parse('2026-12-01T10:00:00Z')) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface ChatEvent {
  kind: 'post' | 'update' | 'ephemeral';
  channel: string;
  ts: string;
  text: string;
}

/** Chat that records every message; `failWith` makes the next calls throw that error. */
export class RecordingChat implements Chat, Directory {
  readonly events: ChatEvent[] = [];
  private next = 1;
  failWith: ((method: 'post' | 'update') => Error | undefined) | undefined;

  async post(channel: string, message: Message): Promise<{ ts: string }> {
    const err = this.failWith?.('post');
    if (err) throw err;
    const ts = String(this.next++);
    this.events.push({ kind: 'post', channel, ts, text: message.text });
    return { ts };
  }
  async update(channel: string, ts: string, message: Message): Promise<void> {
    const err = this.failWith?.('update');
    if (err) throw err;
    this.events.push({ kind: 'update', channel, ts, text: message.text });
  }
  async postEphemeral(channel: string, _user: string, message: Message): Promise<void> {
    this.events.push({ kind: 'ephemeral', channel, ts: '', text: message.text });
  }
  async userName(): Promise<string | undefined> {
    return undefined;
  }
  async groupsOf(): Promise<ReadonlySet<string>> {
    return new Set();
  }
  /** The text the user sees last in the message `ts`. */
  lastText(): string | undefined {
    return this.events.filter((e) => e.kind !== 'ephemeral').at(-1)?.text;
  }
}

/** Jobs that keep what was queued, deduplicated by id as the real queues are. */
export class RecordingJobs implements Jobs {
  readonly commands = new Map<string, CommandJobInput>();
  readonly audits = new Map<string, AuditRecord>();
  readonly expiries: { id: string; at: number }[] = [];
  failCommandEnqueue: (() => Error | undefined) | undefined;

  async enqueueCommand(job: CommandJobInput): Promise<EnqueueResult> {
    const err = this.failCommandEnqueue?.();
    if (err) throw err;
    const duplicate = this.commands.has(job.id);
    if (!duplicate) this.commands.set(job.id, job);
    return { jobId: job.id, duplicate };
  }
  async enqueueAudit(record: AuditRecord): Promise<EnqueueResult> {
    const duplicate = this.audits.has(record.id);
    if (!duplicate) this.audits.set(record.id, record);
    return { jobId: record.id, duplicate };
  }
  async scheduleApprovalExpiry(id: string, at: number): Promise<void> {
    this.expiries.push({ id, at });
  }
}

/** A cluster for engine tests whose commands do not touch one: every call is refused. */
export const noCluster: Cluster = {
  sandbox: false,
  getDeployment: () => Promise.reject(new Error('no cluster in this test')),
  listDeployments: () => Promise.reject(new Error('no cluster in this test')),
  listReplicaSets: () => Promise.reject(new Error('no cluster in this test')),
  listPods: () => Promise.reject(new Error('no cluster in this test')),
  patchDeployment: () => Promise.reject(new Error('no cluster in this test')),
  getScale: () => Promise.reject(new Error('no cluster in this test')),
  replaceScale: () => Promise.reject(new Error('no cluster in this test')),
  reviewAccess: () => Promise.reject(new Error('no cluster in this test')),
  ping: () => Promise.resolve(),
};
