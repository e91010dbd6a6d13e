import { z } from 'zod';
import type { Alert, AlertGroup } from '../../../core/alert.js';
import { hashOf } from '../../hash.js';
import { authenticateBearer, defineSource, parseAs } from '../source.js';

export const Labels = z.record(z.string(), z.string());

/** One alert as Alertmanager sends it; Grafana's webhook extends it with a few links. */
export const AlertmanagerAlert = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: Labels,
  annotations: Labels.default({}),
  startsAt: z.string(),
  endsAt: z.string().default(''),
  generatorURL: z.string().default(''),
  fingerprint: z.string().min(1),
});

/** Alertmanager's webhook payload, version 4 (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config). */
export const AlertmanagerWebhook = z.object({
  version: z.literal('4'),
  groupKey: z.string().min(1),
  truncatedAlerts: z.int().min(0).default(0),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: Labels.default({}),
  commonLabels: Labels.default({}),
  commonAnnotations: Labels.default({}),
  externalURL: z.string().default(''),
  alerts: z.array(AlertmanagerAlert).min(1),
});
export type AlertmanagerWebhook = z.infer<typeof AlertmanagerWebhook>;

export function fromAlertmanager(body: AlertmanagerWebhook, receivedAt: number): AlertGroup {
  return {
    source: 'alertmanager',
    groupKey: body.groupKey,
    status: body.status,
    commonLabels: body.commonLabels,
    commonAnnotations: body.commonAnnotations,
    ...(body.externalURL ? { externalURL: body.externalURL } : {}),
    truncatedAlerts: body.truncatedAlerts,
    receivedAt,
    alerts: body.alerts.map(toAlert),
  };
}

/** One alert of an Alertmanager-shaped payload (Grafana's too), leaving out empty links. */
export function toAlert(a: {
  fingerprint: string;
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string | undefined;
  generatorURL?: string | undefined;
  silenceURL?: string | undefined;
  dashboardURL?: string | undefined;
}): Alert {
  return {
    fingerprint: a.fingerprint,
    status: a.status,
    labels: a.labels,
    annotations: a.annotations,
    startsAt: a.startsAt,
    ...(a.endsAt ? { endsAt: a.endsAt } : {}),
    ...(a.generatorURL ? { generatorURL: a.generatorURL } : {}),
    ...(a.silenceURL ? { silenceURL: a.silenceURL } : {}),
    ...(a.dashboardURL ? { dashboardURL: a.dashboardURL } : {}),
  };
}

/** A redelivery of Alertmanager's webhook shape is the same body again for the same group. */
export function groupDeliveryId(
  payload: { groupKey: string },
  _group: unknown,
  delivery: { raw: Buffer },
): string {
  return `${hashOf(payload.groupKey)}-${hashOf(delivery.raw.toString('utf8'), 24)}`;
}

/**
 * Alertmanager's webhook receiver. A group is its groupKey; a redelivery is the same body again.
 * It has no test button, and its silences live at `<externalURL>/#/silences/new`.
 */
export const alertmanager = defineSource<AlertmanagerWebhook>({
  id: 'alertmanager',
  name: 'Alertmanager',
  authenticate: authenticateBearer,
  parse: parseAs(AlertmanagerWebhook, fromAlertmanager),
  deliveryId: groupDeliveryId,
  isTest: () => undefined,
  invalidBodies: 'reject',
  // notify/pagerduty: dedup_key is key.Hash(), the SHA-256 hex of the group key this webhook sends.
  dedupKeys: (group) => [hashOf(group.groupKey, 64)],
  silenceURL(incident) {
    if (!incident.externalURL) return undefined;
    const filter = Object.entries(incident.labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    return `${incident.externalURL}/#/silences/new?filter=${encodeURIComponent(`{${filter}}`)}`;
  },
});
