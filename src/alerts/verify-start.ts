import type { Logger } from 'pino';
import type { AuditRecord } from '../core/audit.js';
import type { Incident } from '../core/incident.js';
import type { Runtime } from '../runtime.js';
import type { IncidentStore } from './store.js';
import { AlertmanagerAlerts, defineVerifyQueue, incidentRecordAlerts, watchAfterAction } from './verify.js';

/**
 * Post-action verification: every executed change made from an incident channel is watched for
 * `incidents.verify.window`, and gets one verdict in the channel, on the issue and in the audit trail.
 */
export function startVerification(runtime: Runtime, store: IncidentStore, log: Logger) {
  const settings = runtime.config.incidents;
  if (!settings) throw new Error('verification started without incidents: in opsbot.yml');
  // The labels that make an incident's group, as its correlation does: alertname, env and deployment by default.
  const groupLabels = (incident: Incident): Record<string, string> => {
    const names = settings.correlation.labels ?? ['alertname', settings.envLabel, settings.deploymentLabel];
    const picked = Object.fromEntries(
      names
        .filter((name) => Object.hasOwn(incident.labels, name))
        .map((name) => [name, incident.labels[name] ?? '']),
    );
    return Object.keys(picked).length > 0 ? picked : incident.labels;
  };
  const queue = defineVerifyQueue(runtime.backend, {
    settings,
    store,
    alerts: settings.alertmanager
      ? new AlertmanagerAlerts(settings.alertmanager.url, groupLabels)
      : incidentRecordAlerts,
    jobs: runtime.jobs,
    chat: runtime.chat,
    clock: runtime.clock,
    log: log.child({ component: 'verify' }),
  });
  const mutates = (action: string) =>
    runtime.commands().some((command) => (command.action ?? command.name) === action && command.mutates);
  return {
    /** Starts a watch for an executed change made in an open incident's channel. */
    async afterAudit(record: AuditRecord): Promise<void> {
      if (record.outcome !== 'executed' || !record.incident || !record.channel || !mutates(record.action))
        return;
      const id = await store.byChannel(record.channel.id);
      const incident = id ? await store.get(id) : undefined;
      if (incident?.status !== 'open') return;
      await watchAfterAction(queue, record, incident.id);
    },
  };
}
