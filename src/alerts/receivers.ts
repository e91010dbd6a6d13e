import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AlertGroup } from '../core/alert.js';
import { BodyTooLarge, readBody } from '../http/body.js';
import type { Metrics } from '../metrics.js';
import type { TaskQueue } from '../queue/backend.js';
import { AlertmanagerWebhook, fromAlertmanager } from './alertmanager.js';
import { fromGrafana, GrafanaWebhook, isGrafanaTest } from './grafana.js';
import { hashOf } from './incident-service.js';
import { fromPagerDuty, PAGERDUTY_PING, PagerDutyEnvelope, verifyPagerDutySignature } from './pagerduty.js';

export const MAX_BODY_BYTES = 1024 * 1024;

export type AlertSource = AlertGroup['source'];

export interface ReceiverDeps {
  log: Logger;
  metrics: Metrics;
  now(): number;
  webhookToken: string | undefined;
  /** Without a token, requests are refused unless this is set (OPSBOT_WEBHOOK_ALLOW_UNAUTHENTICATED). */
  allowUnauthenticated?: boolean;
  pagerDutySecrets: string[];
  /** Job data is re-validated by the worker, so the queue holds it as unknown. */
  queue: TaskQueue<{ group: unknown }>;
  /** Where a source's test notification becomes a short note; without it, it is only logged. */
  testNotes?: TaskQueue<TestNote> | undefined;
}

/** A source's "Test" button was pressed (Grafana's contact point test). */
export interface TestNote {
  source: AlertSource;
  receiver: string;
  receivedAt: number;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * One listener per source: size limit (413), credentials (401), schema (400), then a queued job
 * and 202. Nothing here calls Slack or GitHub. Job ids make redeliveries add nothing.
 */
export function createReceiver(source: AlertSource, deps: ReceiverDeps): RequestListener {
  const count = (outcome: string) => deps.metrics.webhooks.inc({ source, outcome });
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
        deps.log.warn({ err, source }, 'could not read an alert webhook body');
        count('unreadable');
        return send(res, 400, { error: 'body_unreadable', reason: 'the request body could not be read' });
      }
      const signed = source === 'pagerduty' && deps.pagerDutySecrets.length > 0;
      if (!signed && deps.webhookToken === undefined && deps.allowUnauthenticated !== true) {
        count('unauthorized');
        return send(res, 401, {
          error: 'unauthorized',
          reason: 'this opsbot accepts no alert webhooks until OPSBOT_WEBHOOK_TOKEN is set',
        });
      }
      const authorized = signed
        ? verifyPagerDutySignature(raw, header(req, 'x-pagerduty-signature'), deps.pagerDutySecrets)
        : deps.webhookToken === undefined || bearerMatches(req.headers.authorization, deps.webhookToken);
      if (!authorized) {
        count('unauthorized');
        return send(res, 401, { error: 'unauthorized' });
      }
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        count('invalid');
        return send(res, 400, { error: 'invalid_json', reason: 'the body is not JSON' });
      }
      const parsed = parse(source, json, deps.now());
      if (!parsed.ok && source === 'pagerduty') {
        // PagerDuty drops a 4xx without retrying and disables the subscription after three in a
        // row, discarding what is queued behind them: only credentials and non-JSON get a 4xx.
        deps.log.warn(
          { source, reason: parsed.reason },
          'PagerDuty delivery not understood; acknowledged and ignored',
        );
        count('invalid');
        return send(res, 202, { status: 'ignored', reason: parsed.reason });
      }
      if (!parsed.ok) {
        count('invalid');
        return send(res, 400, { error: 'invalid_payload', reason: parsed.reason });
      }
      if (parsed.test) {
        deps.log.info({ source, receiver: parsed.test.receiver }, 'Grafana test notification received');
        count('test');
        const id = `${source}-test-${hashOf(parsed.test.groupKey, 24)}`;
        try {
          await deps.testNotes?.add(id, { source, receiver: parsed.test.receiver, receivedAt: deps.now() });
        } catch (err) {
          deps.log.error({ err, source }, 'could not queue a test notification note');
          return send(res, 503, { error: 'queue_unavailable' });
        }
        return send(res, 202, { status: 'test' });
      }
      if (!parsed.group) {
        if (parsed.eventType === PAGERDUTY_PING)
          deps.log.info(
            { source, eventType: parsed.eventType },
            'PagerDuty test event (pagey.ping) received; the webhook works',
          );
        else
          deps.log.debug(
            { source, eventType: parsed.eventType, reason: parsed.ignored },
            'webhook event ignored',
          );
        count('ignored');
        return send(res, 202, { status: 'ignored', ...(parsed.ignored ? { reason: parsed.ignored } : {}) });
      }
      const webhookId = header(req, 'x-webhook-id');
      const id =
        source === 'pagerduty'
          ? `pagerduty-${hashOf(webhookId ?? parsed.eventId ?? raw.toString('utf8'), 24)}`
          : `${source}-${hashOf(parsed.group.groupKey)}-${hashOf(raw.toString('utf8'), 24)}`;
      try {
        const { duplicate } = await deps.queue.add(id, { group: parsed.group });
        count(duplicate ? 'duplicate' : 'accepted');
        send(res, 202, { status: duplicate ? 'duplicate' : 'accepted', id });
      } catch (err) {
        deps.log.error({ err, source }, 'could not queue an alert notification');
        count('error');
        send(res, 503, { error: 'queue_unavailable' });
      }
    })().catch((err: unknown) => {
      deps.log.error({ err, source }, 'alert webhook failed');
      send(res, 500, { error: 'internal' });
    });
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

type Parsed =
  | {
      ok: true;
      group: AlertGroup | undefined;
      eventId?: string;
      eventType?: string;
      ignored?: string;
      test?: { receiver: string; groupKey: string };
    }
  | { ok: false; reason: string };

function parse(source: AlertSource, json: unknown, now: number): Parsed {
  const fail = (error: z.ZodError): Parsed => ({ ok: false, reason: z.prettifyError(error) });
  if (source === 'alertmanager') {
    const r = AlertmanagerWebhook.safeParse(json);
    return r.success ? { ok: true, group: fromAlertmanager(r.data, now) } : fail(r.error);
  }
  if (source === 'grafana') {
    const r = GrafanaWebhook.safeParse(json);
    if (!r.success) return fail(r.error);
    if (isGrafanaTest(r.data))
      return { ok: true, group: undefined, test: { receiver: r.data.receiver, groupKey: r.data.groupKey } };
    return { ok: true, group: fromGrafana(r.data, now) };
  }
  const r = PagerDutyEnvelope.safeParse(json);
  if (!r.success) return fail(r.error);
  const event = fromPagerDuty(r.data, now);
  if (!event.act && event.invalid) return { ok: false, reason: event.reason };
  return {
    ok: true,
    group: event.act ? event.group : undefined,
    eventId: r.data.event.id,
    eventType: r.data.event.event_type,
    ...(event.act ? {} : { ignored: event.reason }),
  };
}
