import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { failpoint } from '../failpoints.js';
import { BodyTooLarge, readBody } from '../http/body.js';
import type { Metrics } from '../metrics.js';
import type { TaskQueue } from '../queue/backend.js';
import { type QueuedDelivery, readDelivery } from './delivery.js';
import { hashOf } from './hash.js';
import { sourceById } from './sources/index.js';
import type { AlertSource, WebhookDelivery } from './sources/source.js';

export const MAX_BODY_BYTES = 1024 * 1024;

export interface ReceiverDeps {
  log: Logger;
  metrics: Metrics;
  now(): number;
  webhookToken: string | undefined;
  /** Without a token, requests are refused unless this is set (OPSBOT_WEBHOOK_ALLOW_UNAUTHENTICATED). */
  allowUnauthenticated?: boolean;
  /** Signing secrets by source id (PagerDuty's from PAGERDUTY_WEBHOOK_SECRET). */
  signingSecrets?: Readonly<Record<string, readonly string[]>>;
  /** The alerts queue: each job is one delivery's raw body, read again and grouped by the worker. */
  queue: TaskQueue<QueuedDelivery>;
  /** Where a source's test notification becomes a short note; without it, it is only logged. */
  testNotes?: TaskQueue<TestNote> | undefined;
}

/** A source's "Test" button was pressed (Grafana's contact point test, a Datadog test notification). */
export interface TestNote {
  source: string;
  receiver: string;
  /** How the note names the sender; older queued notes lack it. */
  from?: string | undefined;
  receivedAt: number;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** The listener of a registered source, by id (`POST /webhooks/<id>`). */
export function createReceiver(sourceId: string, deps: ReceiverDeps): RequestListener {
  const source = sourceById(sourceId);
  if (!source) throw new Error(`no alert source is registered as ${sourceId}`);
  return receiverFor(source, deps);
}

/**
 * One listener per source, the same steps for each: size limit (413), credentials (401), JSON and
 * the source's schema (400, or 202 for a source that punishes 4xx), a test note or a queued job,
 * then 202. Nothing here calls Slack or GitHub. The body is read here only to answer the sender
 * truthfully (a 400 with the reason is what a person setting up a contact point sees); the job
 * holds the raw body and the worker groups it. Job ids make redeliveries add nothing.
 */
export function receiverFor(source: AlertSource, deps: ReceiverDeps): RequestListener {
  const id = source.id;
  const count = (outcome: string) => deps.metrics.webhooks.inc({ source: id, outcome });
  const credentials = {
    token: deps.webhookToken,
    allowUnauthenticated: deps.allowUnauthenticated === true,
    signingSecrets: deps.signingSecrets ?? {},
  };
  return (req, res) => {
    void (async () => {
      let raw: Buffer;
      try {
        raw = await readBody(req, MAX_BODY_BYTES);
      } catch (err) {
        if (err instanceof BodyTooLarge) {
          count('too_large');
          return send(res, 413, {
            error: 'body_too_large',
            reason: `the body is over ${MAX_BODY_BYTES} bytes`,
          });
        }
        // The connection broke or the body could not be decoded: say so, it was not too large.
        deps.log.warn({ err, source: id }, 'could not read an alert webhook body');
        count('unreadable');
        return send(res, 400, { error: 'body_unreadable', reason: 'the request body could not be read' });
      }
      const delivery: WebhookDelivery = { raw, header: (name) => header(req, name) };
      const auth = source.authenticate(delivery, credentials);
      if (auth !== 'ok') {
        count('unauthorized');
        return send(
          res,
          401,
          auth === 'unconfigured'
            ? {
                error: 'unauthorized',
                reason: 'this opsbot accepts no alert webhooks until OPSBOT_WEBHOOK_TOKEN is set',
              }
            : { error: 'unauthorized' },
        );
      }
      const receivedAt = deps.now();
      const text = raw.toString('utf8');
      const parsed = readDelivery(source, text, receivedAt);
      if (!parsed.ok && 'notJson' in parsed) {
        count('invalid');
        return send(res, 400, { error: 'invalid_json', reason: parsed.reason });
      }
      if (!parsed.ok) {
        count('invalid');
        if (source.invalidBodies === 'acknowledge') {
          deps.log.warn(
            { source: id, reason: parsed.reason },
            `${source.name} delivery not understood; acknowledged and ignored`,
          );
          return send(res, 202, { status: 'ignored', reason: parsed.reason });
        }
        return send(res, 400, { error: 'invalid_payload', reason: parsed.reason });
      }
      const test = source.isTest(parsed.payload);
      if (test) {
        deps.log.info({ source: id, receiver: test.receiver }, `${source.name} test notification received`);
        count('test');
        try {
          await deps.testNotes?.add(`${id}-test-${hashOf(test.key, 24)}`, {
            source: id,
            receiver: test.receiver,
            from: test.from,
            receivedAt,
          });
        } catch (err) {
          deps.log.error({ err, source: id }, 'could not queue a test notification note');
          return send(res, 503, { error: 'queue_unavailable' });
        }
        return send(res, 202, { status: 'test' });
      }
      if (!('group' in parsed)) {
        if (parsed.notice) deps.log.info({ source: id, ...parsed.fields }, parsed.notice);
        else
          deps.log.debug({ source: id, ...parsed.fields, reason: parsed.ignored }, 'webhook event ignored');
        count('ignored');
        return send(res, 202, { status: 'ignored', reason: parsed.ignored });
      }
      const jobId = `${id}-${source.deliveryId(parsed.payload, parsed.group, delivery)}`;
      try {
        // The one durable write before the answer: once it is in Redis, a crash loses nothing.
        const { duplicate } = await deps.queue.add(jobId, { source: id, raw: text, receivedAt });
        count(duplicate ? 'duplicate' : 'accepted');
        // A crash the moment the sender has its 202 must lose nothing (test/faults/webhook-crash).
        if (!duplicate) res.once('finish', () => failpoint('webhook.after-answer'));
        send(res, 202, { status: duplicate ? 'duplicate' : 'accepted', id: jobId });
      } catch (err) {
        deps.log.error({ err, source: id }, 'could not queue an alert notification');
        count('error');
        send(res, 503, { error: 'queue_unavailable' });
      }
    })().catch((err: unknown) => {
      deps.log.error({ err, source: id }, 'alert webhook failed');
      send(res, 500, { error: 'internal' });
    });
  };
}
