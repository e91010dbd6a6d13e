import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Prefix of the default metrics that describe the whole process (CPU, resident memory, open files). */
export const PROCESS_METRIC_PREFIX = 'opsbot_process_';

/** Prometheus metrics for /metrics. One registry per process keeps tests independent. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'opsbot_' });
  return {
    registry,
    commands: new Counter({
      name: 'opsbot_commands_total',
      help: 'Slash commands by verb and outcome (queued, denied, invalid, reply)',
      labelNames: ['verb', 'outcome'] as const,
      registers: [registry],
    }),
    actionDuration: new Histogram({
      name: 'opsbot_action_duration_seconds',
      help: 'Time from a job starting to its outcome, by command and outcome',
      labelNames: ['command', 'outcome'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'opsbot_queue_depth',
      help: 'Jobs per queue and state',
      labelNames: ['queue', 'state'] as const,
      // Every process of a unit reads the same Redis: the unit's figure is one reading, not their sum.
      aggregator: 'max',
      registers: [registry],
    }),
    queueFailures: new Counter({
      name: 'opsbot_queue_failures_total',
      help: 'Job attempts that failed, by queue',
      labelNames: ['queue'] as const,
      registers: [registry],
    }),
    webhooks: new Counter({
      name: 'opsbot_alert_webhooks_total',
      help: 'Alert webhooks by source and outcome',
      labelNames: ['source', 'outcome'] as const,
      registers: [registry],
    }),
    auditHeld: new Gauge({
      name: 'opsbot_audit_records_held',
      help: 'Audit records GitHub refuses for now (credentials or access), kept queued and retried',
      registers: [registry],
    }),
    auditHeldSeconds: new Gauge({
      name: 'opsbot_audit_oldest_held_seconds',
      help: 'How long the oldest held audit record has been waiting (0 when none is)',
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'opsbot_http_request_duration_seconds',
      help: 'Time from a request arriving to its answer being handed to the socket, by route and status: Slack wants its ack within 3 s',
      labelNames: ['route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    externalErrors: new Counter({
      name: 'opsbot_external_errors_total',
      help: 'Errors from Slack, GitHub, Kubernetes and Redis, by system and status',
      labelNames: ['system', 'status'] as const,
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
