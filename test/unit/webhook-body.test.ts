import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createReceiver } from '../../src/alerts/receivers.js';
import { createMetrics } from '../../src/metrics.js';
import { silentLog } from '../helpers/fake-ports.js';

/** A request whose body stream breaks halfway, and a response that keeps what was sent. */
function brokenRequest() {
  const req = Object.assign(new PassThrough(), { headers: { 'content-type': 'application/json' } });
  const sent: { status?: number; body?: string } = {};
  const res = {
    headersSent: false,
    writeHead(status: number) {
      sent.status = status;
      return this;
    },
    end(body: string) {
      sent.body = body;
      return this;
    },
  };
  return { req, res, sent };
}

describe('alert webhooks', () => {
  it('says that a body could not be read, not that it was too large', async () => {
    const listener = createReceiver('alertmanager', {
      log: silentLog,
      metrics: createMetrics(),
      now: () => 0,
      webhookToken: undefined,
      queue: { add: async () => ({ duplicate: false }) },
    });
    const { req, res, sent } = brokenRequest();
    listener(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    req.write('{"version":"4",');
    req.destroy(new Error('aborted'));
    for (let i = 0; i < 50 && sent.status === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sent.status).toBe(400);
    expect(JSON.parse(sent.body ?? '{}')).toMatchObject({ error: 'body_unreadable' });
  });
});
