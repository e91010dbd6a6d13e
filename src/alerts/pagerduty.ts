import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { AlertGroup } from '../core/alert.js';

/** PagerDuty v3 webhook (https://developer.pagerduty.com/docs/webhooks/v3-overview/), incident events. */
export const PagerDutyWebhook = z.object({
  event: z.object({
    id: z.string().min(1),
    event_type: z.string().regex(/^incident\.[a-z_]+$/, 'must be an incident.* event'),
    resource_type: z.literal('incident'),
    occurred_at: z.string(),
    data: z.object({
      id: z.string().min(1),
      type: z.string().default('incident'),
      html_url: z.string().default(''),
      number: z.number().optional(),
      status: z.enum(['triggered', 'acknowledged', 'resolved']).optional(),
      title: z.string().default('PagerDuty incident'),
      urgency: z.enum(['high', 'low']).default('high'),
      priority: z.object({ summary: z.string() }).nullish(),
      service: z.object({ id: z.string(), summary: z.string().default('') }).optional(),
    }),
  }),
});
export type PagerDutyWebhook = z.infer<typeof PagerDutyWebhook>;

const RESOLVING = new Set(['incident.resolved']);
const TRIGGERING = new Set(['incident.triggered', 'incident.reopened', 'incident.unacknowledged']);

/** Only events that start or end an incident matter; the rest (annotated, acknowledged…) are ignored. */
export function fromPagerDuty(body: PagerDutyWebhook, receivedAt: number): AlertGroup | undefined {
  const { event } = body;
  const status = RESOLVING.has(event.event_type)
    ? 'resolved'
    : TRIGGERING.has(event.event_type)
      ? 'firing'
      : undefined;
  if (!status) return undefined;
  const d = event.data;
  const severity = d.priority?.summary?.toLowerCase() ?? (d.urgency === 'high' ? 'critical' : 'warning');
  return {
    source: 'pagerduty',
    groupKey: d.id,
    status,
    title: d.title,
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
