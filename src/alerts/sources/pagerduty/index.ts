import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { AlertGroup } from '../../../core/alert.js';
import { hashOf } from '../../hash.js';
import { authenticateBearer, defineSource } from '../source.js';

/**
 * The v3 webhook envelope, common to every event type; only this is checked before the event type
 * is known (https://developer.pagerduty.com/docs/webhooks/v3-overview#webhook-payload).
 */
export const PagerDutyEnvelope = z.object({
  event: z.object({
    id: z.string().min(1),
    event_type: z.string().min(1),
    resource_type: z.string().min(1),
    occurred_at: z.string(),
    data: z.record(z.string(), z.unknown()),
  }),
});
export type PagerDutyEnvelope = z.infer<typeof PagerDutyEnvelope>;

/** `event.data` of the incident events opsbot acts on (data.type "incident" in the Event Types table). */
export const PagerDutyIncident = z.object({
  id: z.string().min(1),
  html_url: z.string().default(''),
  number: z.number().optional(),
  status: z.string().optional(),
  title: z.string().default('PagerDuty incident'),
  urgency: z.enum(['high', 'low']).default('high'),
  priority: z.object({ summary: z.string() }).nullish(),
  service: z.object({ id: z.string(), summary: z.string().default('') }).nullish(),
  /** The Events API dedup_key the incident was opened with (Alertmanager: SHA-256 of its group key). */
  incident_key: z.string().nullish(),
});
export type PagerDutyIncident = z.infer<typeof PagerDutyIncident>;

/** The events that start or end an incident. Every other type (notes, responders, services…) is acknowledged and ignored. */
const ACTED_ON: Readonly<Record<string, 'firing' | 'resolved'>> = {
  'incident.triggered': 'firing',
  'incident.reopened': 'firing',
  'incident.unacknowledged': 'firing',
  'incident.resolved': 'resolved',
};

/** What "Send Test Event" (POST /webhook_subscriptions/{id}/ping) delivers. */
export const PAGERDUTY_PING = 'pagey.ping';

export type PagerDutyEvent =
  | { act: true; group: AlertGroup }
  | { act: false; reason: string; invalid?: boolean };

/** An envelope's event: the incident as an alert group when opsbot acts on its type, else why not. */
export function fromPagerDuty(body: PagerDutyEnvelope, receivedAt: number): PagerDutyEvent {
  const { event } = body;
  const status = ACTED_ON[event.event_type];
  if (!status) return { act: false, reason: `event type ${event.event_type} is not acted on` };
  const incident = PagerDutyIncident.safeParse(event.data);
  if (!incident.success) return { act: false, invalid: true, reason: z.prettifyError(incident.error) };
  const d = incident.data;
  const severity = d.priority?.summary?.toLowerCase() ?? (d.urgency === 'high' ? 'critical' : 'warning');
  return {
    act: true,
    group: {
      source: 'pagerduty',
      groupKey: d.id,
      status,
      title: d.title,
      ...(d.html_url ? { link: d.html_url } : {}),
      ...(d.incident_key ? { joins: [d.incident_key] } : {}),
      commonLabels: { severity, ...(d.service?.summary ? { service: d.service.summary } : {}) },
      commonAnnotations: d.html_url ? { dashboard_url: d.html_url } : {},
      truncatedAlerts: 0,
      receivedAt,
      alerts: [
        {
          fingerprint: d.id,
          status,
          labels: {
            alertname: d.title,
            severity,
            ...(d.service?.summary ? { service: d.service.summary } : {}),
          },
          annotations: {},
          ...(status === 'firing' ? { startsAt: event.occurred_at } : { endsAt: event.occurred_at }),
        },
      ],
    },
  };
}

/** `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`, an HMAC-SHA256 of the raw body; any secret may match. */
export function verifyPagerDutySignature(
  raw: Buffer,
  header: string | undefined,
  secrets: string[],
): boolean {
  if (!header) return false;
  const given = header
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('v1='))
    .map((s) => Buffer.from(s.slice(3), 'hex'));
  return secrets.some((secret) => {
    const expected = createHmac('sha256', secret).update(raw).digest();
    return given.some((g) => g.length === expected.length && timingSafeEqual(g, expected));
  });
}

/**
 * PagerDuty's v3 webhooks: signed with the subscription's secret (PAGERDUTY_WEBHOOK_SECRET) when
 * set, else the bearer token. A group is a PagerDuty incident; a redelivery keeps its X-Webhook-Id.
 */
export const pagerduty = defineSource<PagerDutyEnvelope>({
  id: 'pagerduty',
  name: 'PagerDuty',
  authenticate(delivery, credentials) {
    const secrets = credentials.signingSecrets.pagerduty ?? [];
    if (secrets.length === 0) return authenticateBearer(delivery, credentials);
    return verifyPagerDutySignature(delivery.raw, delivery.header('x-pagerduty-signature'), [...secrets])
      ? 'ok'
      : 'denied';
  },
  parse(body, receivedAt) {
    const r = PagerDutyEnvelope.safeParse(body);
    if (!r.success) return { ok: false, reason: z.prettifyError(r.error) };
    const event = fromPagerDuty(r.data, receivedAt);
    if (event.act) return { ok: true, payload: r.data, group: event.group };
    if (event.invalid) return { ok: false, reason: event.reason };
    return {
      ok: true,
      payload: r.data,
      ignored: event.reason,
      fields: { eventType: r.data.event.event_type },
      ...(r.data.event.event_type === PAGERDUTY_PING
        ? { notice: 'PagerDuty test event (pagey.ping) received; the webhook works' }
        : {}),
    };
  },
  deliveryId: (payload, _group, delivery) => hashOf(delivery.header('x-webhook-id') ?? payload.event.id, 24),
  // "Send Test Event" is pagey.ping: acknowledged and logged (see parse), not a test note.
  isTest: () => undefined,
  // PagerDuty drops a 4xx without retrying and disables the subscription after three in a row,
  // discarding what is queued behind them: only credentials and non-JSON get a 4xx.
  invalidBodies: 'acknowledge',
  secrets: (env) =>
    (env.PAGERDUTY_WEBHOOK_SECRET ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  refireAfterResolve: true,
});
