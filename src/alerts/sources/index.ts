import { alertmanager } from './alertmanager/index.js';
import { datadog } from './datadog/index.js';
import { grafana } from './grafana/index.js';
import { pagerduty } from './pagerduty/index.js';
import type { AlertSource } from './source.js';

/** Every alert source, one line each: each gets `POST /webhooks/<id>`. */
export const ALERT_SOURCES: readonly AlertSource[] = [alertmanager, grafana, pagerduty, datadog];

export function sourceById(id: string): AlertSource | undefined {
  return ALERT_SOURCES.find((s) => s.id === id);
}
