import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const WEBHOOK_TOKEN = 'test-webhook-token-3c7d';
export const PAGERDUTY_SECRET = 'test-pd-secret-81aa';
export const INCIDENT_REPO = 'acme/incidents';

export function alertFixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/alerts/${name}`, import.meta.url), 'utf8')) as T;
}

export interface PostResult {
  status: number;
  body: Record<string, unknown>;
  ms: number;
}

/** Posts a webhook as the source does: JSON, with the bearer token unless told otherwise. */
export async function postWebhook(
  botUrl: string,
  source: 'alertmanager' | 'grafana' | 'pagerduty' | 'datadog',
  payload: unknown,
  options: { token?: string | null; headers?: Record<string, string>; raw?: string } = {},
): Promise<PostResult> {
  const token = options.token === undefined ? WEBHOOK_TOKEN : options.token;
  const started = performance.now();
  const res = await fetch(`${botUrl}/webhooks/${source}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...options.headers,
    },
    body: options.raw ?? JSON.stringify(payload),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not every refusal has a JSON body.
  }
  return { status: res.status, body, ms };
}

/** A PagerDuty v3 delivery: signed body, webhook id header. */
export function pagerDutyHeaders(
  raw: string,
  webhookId: string,
  secret = PAGERDUTY_SECRET,
): Record<string, string> {
  const sig = createHmac('sha256', secret).update(raw).digest('hex');
  return { 'x-pagerduty-signature': `v1=${sig}`, 'x-webhook-id': webhookId };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}
