import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ChannelContextCache,
  channelChangesTopic,
  followChannelChanges,
} from '../../src/alerts/channel-cache.js';
import { RedisIncidentStore } from '../../src/alerts/store.js';
import { Incident } from '../../src/core/incident.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const opened: Redis[] = [];
const connect = () => {
  const redis = new Redis(url);
  opened.push(redis);
  return redis;
};
afterAll(async () => {
  await Promise.all(opened.map((r) => r.quit()));
});

describe('the incident-channel cache of the ack path, across processes', () => {
  it('answers repeated lookups from memory and sees a channel another process indexed at once', async () => {
    const prefix = `test-${randomUUID()}`;
    // The worker's store, and the web side's store, cache and subscriber: separate connections.
    const workerStore = new RedisIncidentStore(connect(), prefix);
    const webRedis = connect();
    const webStore = new RedisIncidentStore(webRedis, prefix);
    let reads = 0;
    const cache = new ChannelContextCache(async (channelId) => {
      reads++;
      const id = await webStore.byChannel(channelId);
      const incident = id ? await webStore.get(id) : undefined;
      return incident?.issue
        ? { repo: 'acme/incidents', issue: incident.issue, labels: incident.labels }
        : undefined;
    });
    await followChannelChanges(connect(), channelChangesTopic(prefix), cache, pino({ level: 'silent' }));

    for (let i = 0; i < 5; i++) expect(await cache.lookup('CINC1')).toBeUndefined();
    expect(reads).toBe(1);

    await workerStore.put(
      Incident.parse({
        id: 'inc-1',
        key: 'group-1',
        source: 'alertmanager',
        title: 'HighLatency',
        severity: 'critical',
        status: 'open',
        openedAt: Date.now(),
        channelId: 'CINC1',
        issue: 42,
      }),
    );
    const deadline = Date.now() + 2_000;
    let seen = await cache.lookup('CINC1');
    while (!seen && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      seen = await cache.lookup('CINC1');
    }
    expect(seen).toEqual({ repo: 'acme/incidents', issue: 42, labels: {} });
    const readsAfter = reads;
    for (let i = 0; i < 5; i++) await cache.lookup('CINC1');
    expect(reads).toBe(readsAfter);
  });
});
