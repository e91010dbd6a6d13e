import { z } from 'zod';

/** One alert as every source is turned into: labels identify it, the fingerprint names it. */
export const Alert = z.object({
  fingerprint: z.string().min(1),
  status: z.enum(['firing', 'resolved']),
  labels: z.record(z.string(), z.string()).default({}),
  annotations: z.record(z.string(), z.string()).default({}),
  startsAt: z.string().optional(),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  silenceURL: z.string().optional(),
  dashboardURL: z.string().optional(),
});
export type Alert = z.infer<typeof Alert>;

/** One notification about one alert group, whatever the source. */
export const AlertGroup = z.object({
  /** The id of the source it came from (see src/alerts/sources). */
  source: z.string().min(1),
  /** The source's own group key: Alertmanager/Grafana groupKey, PagerDuty incident id. */
  groupKey: z.string().min(1),
  status: z.enum(['firing', 'resolved']),
  title: z.string().optional(),
  commonLabels: z.record(z.string(), z.string()).default({}),
  commonAnnotations: z.record(z.string(), z.string()).default({}),
  externalURL: z.string().optional(),
  alerts: z.array(Alert),
  /** Where the source shows this group (a PagerDuty incident's page); listed in the summary. */
  link: z.string().optional(),
  /** Keys naming an incident another source opened, which this group is part of (PagerDuty's incident_key). */
  joins: z.array(z.string()).optional(),
  /** Alerts the source left out of this notification (Alertmanager max_alerts). */
  truncatedAlerts: z.int().min(0).default(0),
  receivedAt: z.number(),
});
export type AlertGroup = z.infer<typeof AlertGroup>;

/** The time an alert entry speaks for: its start while firing, its end once resolved. */
export function alertTime(alert: Pick<Alert, 'status' | 'startsAt' | 'endsAt'>): number {
  const text = alert.status === 'resolved' ? alert.endsAt : alert.startsAt;
  const t = text ? Date.parse(text) : Number.NaN;
  return Number.isFinite(t) && t > 0 ? t : 0;
}
