import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupOfQueued } from '../../src/alerts/delivery.js';
import { createReceiver } from '../../src/alerts/receivers.js';
import { AlertGroup } from '../../src/core/alert.js';
import { createMetrics } from '../../src/metrics.js';
import { alertFixture, PAGERDUTY_SECRET, pagerDutyHeaders, postWebhook } from '../helpers/alerts.js';

interface Envelope {
  event: { id: string; event_type: string; resource_type: string; data: Record<string, unknown> };
}

/** PagerDuty's v3 documentation, as a fixture: every event type with its documented data example. */
const docs = alertFixture<{
  eventTypes: Record<string, string>;
  data: Record<string, Record<string, unknown>>;
  examples: Envelope[];
  ping: Envelope;
}>('pagerduty-v3-events.json');

/** A delivery as PagerDuty builds it: the common envelope around the documented data of the event's type. */
function envelope(eventType: string, n: number): Envelope {
  const dataType = docs.eventTypes[eventType] as string;
  return {
    event: {
      id: `01EVENT${String(n).padStart(6, '0')}`,
      event_type: eventType,
      resource_type: eventType.split('.')[0] as string,
      occurred_at: '2026-11-23T10:01:00.000Z',
      agent: null,
      client: null,
      data: docs.data[dataType] as Record<string, unknown>,
    } as Envelope['event'],
  };
}

const ACTED_ON: Record<string, 'firing' | 'resolved'> = {
  'incident.triggered': 'firing',
  'incident.reopened': 'firing',
  'incident.unacknowledged': 'firing',
  'incident.resolved': 'resolved',
};

describe('PagerDuty v3 webhooks: every documented event type', () => {
  let server: Server;
  let url: string;
  const queued: { id: string; group: unknown }[] = [];
  const metrics = createMetrics();
  const logs: { level: number; msg: string; [key: string]: unknown }[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line));
        done();
      },
    });
    const listener = createReceiver('pagerduty', {
      log: pino({ level: 'debug' }, sink),
      metrics,
      now: () => Date.parse('2026-11-23T10:01:05Z'),
      webhookToken: undefined,
      signingSecrets: { pagerduty: [PAGERDUTY_SECRET] },
      queue: {
        add: async (id, data) => {
          // Read back as the worker reads it: the raw body, grouped again.
          const read = groupOfQueued(data);
          queued.push({ id, group: 'group' in read ? read.group : read });
          return { duplicate: false };
        },
      },
    });
    server = createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const deliver = (body: unknown, webhookId: string, raw = JSON.stringify(body)) =>
    postWebhook(url, 'pagerduty', {}, { raw, token: null, headers: pagerDutyHeaders(raw, webhookId) });

  const counted = async (outcome: string) =>
    (await metrics.webhooks.get()).values.find(
      (v) => v.labels.source === 'pagerduty' && v.labels.outcome === outcome,
    )?.value ?? 0;

  it('lists the 30 event types of the documentation', () => {
    expect(Object.keys(docs.eventTypes)).toHaveLength(30);
    for (const type of Object.keys(ACTED_ON)) expect(docs.eventTypes[type]).toBe('incident');
  });

  it('acts on triggered, reopened, unacknowledged and resolved; answers every other event 2xx "ignored" and counts it', async () => {
    const statuses: Record<string, [number, unknown]> = {};
    let n = 0;
    for (const type of Object.keys(docs.eventTypes)) {
      const res = await deliver(envelope(type, n), `wh-${n++}`);
      statuses[type] = [res.status, res.body.status];
    }
    const expected = Object.fromEntries(
      Object.keys(docs.eventTypes).map((type) => [type, [202, type in ACTED_ON ? 'accepted' : 'ignored']]),
    );
    expect(statuses).toEqual(expected);
    expect(await counted('ignored')).toBe(26);
    expect(await counted('accepted')).toBe(4);

    // What was queued is the incident as an alert group, firing or resolved by the event type.
    const groups = queued.map((q) => AlertGroup.parse(q.group));
    const actedOn = Object.keys(docs.eventTypes).filter((type) => type in ACTED_ON);
    expect(Object.fromEntries(groups.map((g, i) => [actedOn[i], g.status]))).toEqual(ACTED_ON);
    expect(groups[0]).toMatchObject({
      source: 'pagerduty',
      groupKey: 'PGR0VU2',
      title: 'A little bump in the road',
      commonLabels: { severity: 'p1', service: 'API Service' },
    });
  });

  it('answers the documented full examples and the "Send Test Event" ping with 2xx', async () => {
    const before = await counted('ignored');
    for (const [i, example] of [...docs.examples, docs.ping].entries()) {
      const res = await deliver(example, `wh-example-${i}`);
      expect([res.status, res.body.status], example.event.event_type).toEqual([202, 'ignored']);
    }
    expect(await counted('ignored')).toBe(before + 3);
    expect(logs.find((l) => l.eventType === 'pagey.ping')?.msg).toBe(
      'PagerDuty test event (pagey.ping) received; the webhook works',
    );
  });

  it('keeps 4xx for a bad signature and a body that is not JSON, and never drops a signed delivery for its shape', async () => {
    const raw = JSON.stringify(envelope('incident.triggered', 99));
    const forged = await postWebhook(
      url,
      'pagerduty',
      {},
      {
        raw,
        token: null,
        headers: pagerDutyHeaders(raw, 'wh-forged', 'not-the-secret'),
      },
    );
    expect(forged.status).toBe(401);
    expect((await deliver(undefined, 'wh-not-json', '{"event": ')).status).toBe(400);

    // A signed body that is no v3 envelope is logged and acknowledged: a 4xx would make PagerDuty
    // drop it, and three in a row disable the subscription with everything queued behind it.
    const invalidBefore = await counted('invalid');
    const odd = await deliver({ messages: [{ event: 'incident.trigger' }] }, 'wh-v2');
    expect([odd.status, odd.body.status]).toEqual([202, 'ignored']);
    const warning = logs.find((l) => l.msg === 'PagerDuty delivery not understood; acknowledged and ignored');
    expect(warning?.level).toBe(40);
    expect(String(warning?.reason)).toContain('event');
    expect(await counted('invalid')).toBe(invalidBefore + 1);
  });
});
