import { z } from 'zod';
import type { AlertGroup } from '../../../core/alert.js';
import { hashOf } from '../../hash.js';
import { authenticateBearer, defineSource } from '../source.js';

/** Datadog substitutes its $VARIABLES as text; a template may leave a number unquoted. */
const Text = z.union([z.string(), z.number()]).transform(String);

/**
 * A Datadog monitor notification from the Webhooks integration, with the payload the integration
 * documents (https://docs.datadoghq.com/integrations/webhooks/, "Usage" and "Variables"): the
 * default fields `id` ($ID), `title` ($EVENT_TITLE), `event_type` ($EVENT_TYPE), `date` ($DATE,
 * epoch ms), `body` ($EVENT_MSG), `last_updated`, `org`, plus the monitor's `alert_id` ($ALERT_ID),
 * `alert_transition` ($ALERT_TRANSITION), `alert_status` ($ALERT_STATUS), `alert_type`
 * ($ALERT_TYPE), `aggreg_key` ($AGGREG_KEY), `priority` ($PRIORITY), `link` ($LINK) and `tags`
 * ($TAGS, comma-separated "key:value"). Only the default fields are required.
 */
export const DatadogWebhook = z.object({
  id: Text.pipe(z.string().min(1)),
  title: z.string().min(1),
  event_type: z.string().default(''),
  date: Text.optional(),
  body: z.string().default(''),
  last_updated: Text.optional(),
  org: z.object({ id: Text.optional(), name: z.string().optional() }).optional(),
  alert_id: Text.optional(),
  alert_transition: z.string().optional(),
  alert_status: z.string().default(''),
  alert_type: z.string().default(''),
  aggreg_key: z.string().default(''),
  priority: z.string().default(''),
  link: z.string().default(''),
  tags: z.string().default(''),
});
export type DatadogWebhook = z.infer<typeof DatadogWebhook>;

/**
 * $ALERT_TRANSITION values (Recovered, Triggered/Re-Triggered, No Data/Re-No Data, Warn/Re-Warn,
 * Null, Renotify) as the alert's state; "Null" and anything unknown are acknowledged and ignored.
 */
const TRANSITIONS: Readonly<Record<string, { status: 'firing' | 'resolved'; warn?: true }>> = {
  triggered: { status: 'firing' },
  're-triggered': { status: 'firing' },
  renotify: { status: 'firing' },
  'no data': { status: 'firing' },
  're-no data': { status: 'firing' },
  warn: { status: 'firing', warn: true },
  're-warn': { status: 'firing', warn: true },
  recovered: { status: 'resolved' },
};

/**
 * Datadog adds "[TEST]" to the title of a notification sent by a monitor's "Test Notifications"
 * (https://docs.datadoghq.com/monitors/notify/#test-notifications, "Managing test notifications").
 */
const TEST_MARK = /\[TEST\]/;

/** Leading "[Triggered]", "[Triggered on {host:a}]", "[Recovered]", "[TEST]" … brackets of a title. */
const TITLE_MARKS =
  /^(\s*\[(?:TEST|P\d|(?:Re-)?(?:Triggered|Warn|No Data)|Recovered|Renotify)\b[^\]]*\])+\s*/i;

/** The transition a delivery speaks for: $ALERT_TRANSITION, else the mark its $EVENT_TITLE starts with. */
function transitionOf(body: DatadogWebhook): string | undefined {
  if (body.alert_transition) return body.alert_transition.trim().toLowerCase();
  const marks = body.title.match(/\[((?:Re-)?(?:Triggered|Warn|No Data)|Recovered|Renotify)\b/i);
  return marks?.[1]?.toLowerCase();
}

/** "$TAGS": "env:prod,deployment:api,team" as labels; a tag without a value is left out. */
export function tagLabels(tags: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const tag of tags.split(',')) {
    const at = tag.indexOf(':');
    const key = tag.slice(0, at).trim();
    if (at > 0 && key) labels[key] = tag.slice(at + 1).trim();
  }
  return labels;
}

export function monitorTitle(body: Pick<DatadogWebhook, 'title'>): string {
  return body.title.replace(TITLE_MARKS, '').trim() || body.title.trim();
}

/** The date of the event as ISO text, from $DATE (epoch ms); empty when Datadog sent none. */
function isoDate(date: string | undefined): string {
  const ms = Number(date);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : '';
}

export type DatadogEvent = { act: true; group: AlertGroup } | { act: false; reason: string };

/** One notification of one monitor (or of one group of a multi-alert monitor) as an alert group. */
export function fromDatadog(body: DatadogWebhook, receivedAt: number): DatadogEvent {
  const transition = transitionOf(body);
  const state = transition ? TRANSITIONS[transition] : undefined;
  if (!state) return { act: false, reason: `alert transition ${transition ?? 'none'} is not acted on` };
  const title = monitorTitle(body);
  // $AGGREG_KEY ties the events of one monitor group together; without it, the monitor, then the title.
  const groupKey = body.aggreg_key || (body.alert_id ? `monitor-${body.alert_id}` : `title-${title}`);
  const tags = tagLabels(body.tags);
  const severity =
    tags.severity ??
    (state.warn || body.alert_type === 'warning'
      ? 'warning'
      : state.status === 'firing'
        ? 'critical'
        : undefined);
  const labels = {
    ...tags,
    alertname: title,
    ...(severity ? { severity } : {}),
    ...(body.alert_id ? { monitor_id: body.alert_id } : {}),
  };
  const at = isoDate(body.date) || new Date(receivedAt).toISOString();
  return {
    act: true,
    group: {
      source: 'datadog',
      groupKey,
      status: state.status,
      title,
      commonLabels: labels,
      commonAnnotations: body.alert_status ? { summary: body.alert_status } : {},
      truncatedAlerts: 0,
      receivedAt,
      alerts: [
        {
          fingerprint: hashOf(groupKey),
          status: state.status,
          labels,
          annotations: body.alert_status ? { summary: body.alert_status } : {},
          ...(state.status === 'firing' ? { startsAt: at } : { endsAt: at }),
          ...(/^https?:\/\//.test(body.link) ? { generatorURL: body.link } : {}),
        },
      ],
    },
  };
}

/**
 * Datadog monitor notifications through the Webhooks integration, with the bearer token set as a
 * custom header. A delivery is its event ($ID) and transition: Datadog's retries send it again.
 */
export const datadog = defineSource<DatadogWebhook>({
  id: 'datadog',
  name: 'Datadog',
  authenticate: authenticateBearer,
  parse(body, receivedAt) {
    const r = DatadogWebhook.safeParse(body);
    if (!r.success) return { ok: false, reason: z.prettifyError(r.error) };
    const event = fromDatadog(r.data, receivedAt);
    return event.act
      ? { ok: true, payload: r.data, group: event.group }
      : { ok: true, payload: r.data, ignored: event.reason, fields: { transition: r.data.alert_transition } };
  },
  deliveryId: (payload) => hashOf(`${payload.id}:${transitionOf(payload) ?? ''}`, 24),
  isTest: (payload) =>
    TEST_MARK.test(payload.title)
      ? {
          key: `${payload.alert_id ?? monitorTitle(payload)}:${payload.id}`,
          receiver: payload.alert_id ?? monitorTitle(payload),
          from: `monitor "${monitorTitle(payload)}"`,
        }
      : undefined,
  invalidBodies: 'reject',
});
