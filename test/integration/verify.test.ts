import { describe, expect, it } from 'vitest';
import { MemoryIncidentStore } from '../../src/alerts/store.js';
import {
  AlertmanagerAlerts,
  checkVerdict,
  incidentRecordAlerts,
  type VerifyTask,
} from '../../src/alerts/verify.js';
import { OpsbotConfig } from '../../src/config/schema.js';
import type { AuditRecord } from '../../src/core/audit.js';
import { Incident } from '../../src/core/incident.js';
import type { Message } from '../../src/core/message.js';
import { createLogger } from '../../src/logger.js';
import { RetryLater } from '../../src/queue/backend.js';

const config = OpsbotConfig.parse({
  environments: { prod: { namespace: 'apps' } },
  roles: {},
  audit: { repo: 'acme/ops-audit' },
  incidents: { repo: 'acme/incidents', verify: { window: '60s', every: '5s' } },
});
const settings = config.incidents!;

const action: AuditRecord = {
  id: 'cmd-1-executed',
  time: new Date(1_000_000).toISOString(),
  outcome: 'executed',
  action: 'rollback',
  requester: { id: 'U1', name: 'alice' },
  environment: 'prod',
  target: 'api',
  args: {},
  message: 'rolled back api',
  channel: { id: 'CINC' },
  incident: { repo: 'acme/incidents', issue: 3 },
};

const firing = (at: number) => ({ status: 'firing' as const, labels: {}, annotations: {}, at });
const resolved = (at: number) => ({ status: 'resolved' as const, labels: {}, annotations: {}, at });

/** A watch over the incident record, with the audit queue and the channel as lists; the test moves the clock. */
function harness(source = 'grafana') {
  let now = 1_000_000;
  const store = new MemoryIncidentStore();
  const audit = new Map<string, AuditRecord>();
  const posts: { channel: string; message: Message }[] = [];
  let failPosts = 0;
  const deps = {
    settings,
    store,
    alerts: new AlertmanagerAlerts('http://127.0.0.1:9', () => ({}), incidentRecordAlerts),
    // The audit queue's task id is the record id: a second add of the same record adds nothing.
    jobs: {
      enqueueAudit: async (record: AuditRecord) => {
        const duplicate = audit.has(record.id);
        if (!duplicate) audit.set(record.id, record);
        return { jobId: record.id, duplicate };
      },
    },
    chat: {
      post: async (channel: string, message: Message) => {
        if (failPosts-- > 0) throw new Error('chat.postMessage failed');
        posts.push({ channel, message });
        return { ts: String(posts.length) };
      },
    },
    clock: { now: () => now },
    log: createLogger('silent'),
  };
  let data: unknown = { record: action, incidentId: 'i1', startedAt: Date.parse(action.time), posted: false };
  const task = {
    id: 'verify-cmd-1-executed',
    get data() {
      return data;
    },
    update: async (next: VerifyTask) => {
      data = structuredClone(next);
    },
  };
  return {
    store,
    audit,
    posts,
    failNextPost: () => {
      failPosts = 1;
    },
    advance: (ms: number) => {
      now += ms;
    },
    check: () => checkVerdict(deps, task),
    incident: (alerts: Incident['alerts']) =>
      store.put(
        Incident.parse({
          id: 'i1',
          key: 'k',
          source,
          title: 't',
          severity: 'critical',
          status: 'open',
          openedAt: 0,
          alerts,
        }),
      ),
  };
}

describe('a watch after an action, on an incident without Alertmanager', () => {
  it('takes a baseline, keeps watching, and is resolved once the source says the alerts resolved', async () => {
    const h = harness();
    await h.incident({ a: firing(1) });
    await expect(h.check()).rejects.toBeInstanceOf(RetryLater);
    h.advance(5_000);
    await expect(h.check()).rejects.toBeInstanceOf(RetryLater);
    await h.incident({ a: resolved(2) });
    h.advance(5_000);
    await h.check();
    expect(h.posts.map((p) => [p.channel, p.message.text])).toEqual([
      ['CINC', 'Verdict on rollback api in prod: resolved, the alerts cleared 10s after the action.'],
    ]);
    expect([...h.audit.values()]).toEqual([
      expect.objectContaining({
        id: 'verdict-cmd-1-executed',
        outcome: 'resolved',
        follows: { id: action.id },
      }),
    ]);
  });

  it('is unchanged when the alerts still fire at the end of the window, and worse when a new one fires', async () => {
    const h = harness();
    await h.incident({ a: firing(1) });
    await expect(h.check()).rejects.toBeInstanceOf(RetryLater);
    h.advance(60_000);
    await h.check();
    expect(h.posts[0]?.message.text).toBe(
      'Verdict on rollback api in prod: unchanged, 1 alert(s) still firing 1m after the action.',
    );

    const w = harness();
    await w.incident({ a: firing(1) });
    await expect(w.check()).rejects.toBeInstanceOf(RetryLater);
    await w.incident({ a: firing(1), b: firing(2) });
    w.advance(5_000);
    await w.check();
    expect(w.posts[0]?.message.text).toMatch(/: worse, new alerts fired/);
  });

  it('gives one verdict when the task is retried after the channel post failed, or run again', async () => {
    const h = harness();
    await h.incident({ a: firing(1) });
    await expect(h.check()).rejects.toBeInstanceOf(RetryLater);
    await h.incident({ a: resolved(2) });
    h.failNextPost();
    await expect(h.check()).rejects.toThrow('chat.postMessage failed');
    // The alert fires again before the retry: the verdict already decided stands.
    await h.incident({ a: firing(3) });
    await h.check();
    await h.check();
    expect(h.posts).toHaveLength(1);
    expect(h.posts[0]?.message.text).toMatch(/: resolved,/);
    expect(h.audit.size).toBe(1);
  });

  it('gives no verdict when nothing fired when the action ran', async () => {
    const h = harness();
    await h.incident({ a: resolved(1) });
    await h.check();
    expect(h.posts).toEqual([]);
    expect(h.audit.size).toBe(0);
  });
});
