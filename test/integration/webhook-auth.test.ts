import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createReceiver, type ReceiverDeps } from '../../src/alerts/receivers.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { alertFixture, postWebhook } from '../helpers/alerts.js';

const servers: Server[] = [];

afterAll(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
});

/** One Alertmanager receiver on its own port, queueing into a list. */
async function receiver(deps: Partial<ReceiverDeps>) {
  const queued: string[] = [];
  const listener = createReceiver('alertmanager', {
    log: createLogger('silent'),
    metrics: createMetrics(),
    now: () => 0,
    webhookToken: undefined,
    queue: {
      add: async (id) => {
        queued.push(id);
        return { duplicate: false };
      },
    },
    ...deps,
  });
  const server = createServer((req, res) => listener(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, queued };
}

describe('alert webhooks without OPSBOT_WEBHOOK_TOKEN', () => {
  it('are refused, and nothing is queued', async () => {
    const r = await receiver({});
    const res = await postWebhook(r.url, 'alertmanager', alertFixture('alertmanager-firing.json'), {
      token: null,
    });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({
      error: 'unauthorized',
      reason: 'this opsbot accepts no alert webhooks until OPSBOT_WEBHOOK_TOKEN is set',
    });
    expect(r.queued).toEqual([]);
  });

  it('are accepted only when OPSBOT_WEBHOOK_ALLOW_UNAUTHENTICATED says so', async () => {
    const r = await receiver({ allowUnauthenticated: true });
    const res = await postWebhook(r.url, 'alertmanager', alertFixture('alertmanager-firing.json'), {
      token: null,
    });
    expect(res.status).toBe(202);
    expect(r.queued).toHaveLength(1);
  });
});
