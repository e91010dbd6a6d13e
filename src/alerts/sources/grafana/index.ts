import { z } from 'zod';
import type { AlertGroup } from '../../../core/alert.js';
import { AlertmanagerAlert, groupDeliveryId, Labels, toAlert } from '../alertmanager/index.js';
import { authenticateBearer, defineSource, parseAs } from '../source.js';

/** Grafana unified alerting's webhook contact point (Alertmanager's shape plus title, state and URLs). */
export const GrafanaWebhook = z.object({
  receiver: z.string().default(''),
  status: z.enum(['firing', 'resolved']),
  orgId: z.number().optional(),
  groupKey: z.string().min(1),
  groupLabels: Labels.default({}),
  commonLabels: Labels.default({}),
  commonAnnotations: Labels.default({}),
  externalURL: z.string().default(''),
  version: z.string().default('1'),
  truncatedAlerts: z.int().min(0).default(0),
  title: z.string().optional(),
  state: z.string().optional(),
  message: z.string().optional(),
  alerts: z
    .array(
      AlertmanagerAlert.extend({
        silenceURL: z.string().default(''),
        dashboardURL: z.string().default(''),
        panelURL: z.string().default(''),
        valueString: z.string().default(''),
      }),
    )
    .min(1),
});
export type GrafanaWebhook = z.infer<typeof GrafanaWebhook>;

export function fromGrafana(body: GrafanaWebhook, receivedAt: number): AlertGroup {
  return {
    source: 'grafana',
    groupKey: body.groupKey,
    status: body.status,
    ...(body.commonLabels.alertname ? {} : body.title ? { title: body.title } : {}),
    commonLabels: body.commonLabels,
    commonAnnotations: body.commonAnnotations,
    ...(body.externalURL ? { externalURL: body.externalURL } : {}),
    truncatedAlerts: body.truncatedAlerts,
    receivedAt,
    alerts: body.alerts.map(toAlert),
  };
}

/**
 * Grafana's contact-point "Test" button: one alert labelled alertname=TestAlert and instance=Grafana
 * (annotation summary "Notification test"), grouped under a key that carries the time of the click,
 * so every click would open a new incident. Alerts of real Grafana-managed rules carry the
 * grafana_folder label; the test alert has none. Source: grafana/alerting notify/test_receivers.go
 * (newTestAlert, TestNotifier) and, in older releases, notify/testing.go.
 */
export function isGrafanaTest(body: GrafanaWebhook): boolean {
  return body.alerts.every(
    (a) =>
      a.labels.alertname === 'TestAlert' &&
      a.labels.instance === 'Grafana' &&
      !('grafana_folder' in a.labels),
  );
}

/** Grafana's webhook contact point: Alertmanager's shape, with a Test button that opens no incident. */
export const grafana = defineSource<GrafanaWebhook>({
  id: 'grafana',
  name: 'Grafana',
  authenticate: authenticateBearer,
  parse: parseAs(GrafanaWebhook, fromGrafana),
  deliveryId: groupDeliveryId,
  isTest: (payload) =>
    isGrafanaTest(payload)
      ? {
          key: payload.groupKey,
          receiver: payload.receiver,
          from: `contact point "${payload.receiver}"`,
        }
      : undefined,
  invalidBodies: 'reject',
});
