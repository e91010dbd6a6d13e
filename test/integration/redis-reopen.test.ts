import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedis, type RedisClient } from '../../src/queue/connection.js';
import { sleep, until } from '../faults/support.js';
import { silentLog } from '../helpers/fake-ports.js';
import { testRedisUrl } from '../helpers/redis-url.js';

/**
 * Ends a client as ioredis does when it believes it was closed on purpose: the flag its own
 * disconnect() sets, then the server drops the socket. This is the state a failover left a
 * connection in once (status "end", "Connection is closed." to every command, no reconnect).
 */
async function endByItself(client: RedisClient, admin: Redis): Promise<void> {
  const id = await (client as Redis).client('ID');
  (client as unknown as { manuallyClosing: boolean }).manuallyClosing = true;
  await admin.client('KILL', 'ID', String(id));
}

describe('a Redis connection that ends by itself', () => {
  const admin = new Redis(testRedisUrl());
  const clients: RedisClient[] = [];

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    admin.disconnect();
  });

  it('is opened again, so commands stop answering "Connection is closed."', async () => {
    const client = createRedis(testRedisUrl(), 'queue', silentLog);
    clients.push(client);
    expect(await client.ping()).toBe('PONG');
    await endByItself(client, admin);
    await until(() => client.status === 'end', 5_000, 'the client to end');
    await expect(client.ping()).rejects.toThrow('Connection is closed.');
    await until(() => client.status === 'ready', 5_000, 'the client to be opened again');
    expect(await client.ping()).toBe('PONG');
  });

  it('stays closed when it was asked to close', async () => {
    const client = createRedis(testRedisUrl(), 'queue', silentLog);
    clients.push(client);
    expect(await client.ping()).toBe('PONG');
    await client.quit();
    await sleep(2_000);
    expect(client.status).toBe('end');
    const other = createRedis(testRedisUrl(), 'worker', silentLog);
    clients.push(other);
    expect(await other.ping()).toBe('PONG');
    other.disconnect();
    await sleep(2_000);
    expect(other.status).toBe('end');
  });
});
