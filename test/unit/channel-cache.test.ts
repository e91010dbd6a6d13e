import { describe, expect, it } from 'vitest';
import { ChannelContextCache } from '../../src/alerts/channel-cache.js';
import { MemoryIncidentStore } from '../../src/alerts/store.js';
import { Incident } from '../../src/core/incident.js';
import type { IncidentContext } from '../../src/ports.js';

const context: IncidentContext = { repo: 'acme/incidents', issue: 7, labels: {}, environment: 'prod' };

describe('ChannelContextCache', () => {
  it('asks the store once per channel, the "no incident here" answers included', async () => {
    const asked: string[] = [];
    const cache = new ChannelContextCache(async (id) => {
      asked.push(id);
      return id === 'CINC' ? context : undefined;
    });
    for (let i = 0; i < 3; i++) {
      expect(await cache.lookup('COPS')).toBeUndefined();
      expect(await cache.lookup('CINC')).toEqual(context);
    }
    expect(asked).toEqual(['COPS', 'CINC']);
  });

  it('asks again after an invalidation, and ages entries out', async () => {
    let now = 0;
    let incident: IncidentContext | undefined;
    let asked = 0;
    const cache = new ChannelContextCache(
      async () => {
        asked++;
        return incident;
      },
      () => now,
    );
    expect(await cache.lookup('C1')).toBeUndefined();
    incident = context;
    expect(await cache.lookup('C1')).toBeUndefined();
    cache.invalidate('C1');
    expect(await cache.lookup('C1')).toEqual(context);
    incident = undefined;
    now += 5 * 60_000;
    expect(await cache.lookup('C1')).toBeUndefined();
    expect(asked).toBe(3);
  });

  it('does not keep what a lookup read before an invalidation that arrived while it ran', async () => {
    let release: (() => void) | undefined;
    let incident: IncidentContext | undefined;
    const cache = new ChannelContextCache(async () => {
      const seen = incident;
      await new Promise<void>((r) => {
        release = r;
      });
      return seen;
    });
    const stale = cache.lookup('C1');
    await new Promise((r) => setImmediate(r));
    // The incident channel is indexed and announced while the first read is still in flight.
    incident = context;
    cache.invalidate('C1');
    release?.();
    expect(await stale).toBeUndefined();
    const fresh = cache.lookup('C1');
    await new Promise((r) => setImmediate(r));
    release?.();
    expect(await fresh).toEqual(context);
  });

  it('in local mode, forgets a channel when the in-memory store saves its incident, as Redis tells every process', async () => {
    let cache: ChannelContextCache | undefined;
    const store = new MemoryIncidentStore((channelId) => cache?.invalidate(channelId));
    cache = new ChannelContextCache(async (channelId) => {
      const id = await store.byChannel(channelId);
      const incident = id ? await store.get(id) : undefined;
      return incident?.issue ? { repo: 'acme/incidents', issue: incident.issue, labels: {} } : undefined;
    });
    const incident = Incident.parse({
      id: 'inc-1',
      key: 'group',
      source: 'alertmanager',
      title: 'HighLatency',
      severity: 'critical',
      status: 'open',
      openedAt: 0,
      flaps: 0,
      labels: {},
      annotations: {},
      channelId: 'CINC',
    });
    await store.put(incident);
    // Asked before the issue exists: no incident here yet, and that answer is cached.
    expect(await cache.lookup('CINC')).toBeUndefined();
    await store.put({ ...incident, issue: 12 });
    expect(await cache.lookup('CINC')).toEqual({ repo: 'acme/incidents', issue: 12, labels: {} });
  });
});
