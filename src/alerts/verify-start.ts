import type { Logger } from 'pino';
import type { AuditRecord } from '../core/audit.js';
import type { Incident } from '../core/incident.js';
import type { Runtime } from '../runtime.js';
import type { IncidentStore } from './store.js';
import { AlertmanagerAlerts, defineVerifyQueue, incidentRecordAlerts, watchAfterAction } from './verify.js';

/** How many of the newest open incidents a change outside an incident channel is matched against. */
const OPEN_INCIDENTS_SCANNED = 200;

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
  const incidentOfChannel = async (channelId: string) => {
    const id = await store.byChannel(channelId);
    return id ? store.get(id) : undefined;
  };
  // The newest open incident about this deployment; a change outside its channel still answers to it.
  const openIncidentOf = async (environment: string | undefined, deployment: string | undefined) => {
    if (!environment || !deployment) return undefined;
    const open = await store.openIncidents(OPEN_INCIDENTS_SCANNED);
    return open.find((i) => i.environment === environment && i.deployment === deployment);
  };
  const mutates = (action: string) =>
    runtime.commands().some((command) => (command.action ?? command.name) === action && command.mutates);
  return {
    /**
     * Starts a watch for an executed change made in an open incident's channel, or anywhere when it
     * names the deployment (in the environment) of an open incident.
     */
    async afterAudit(record: AuditRecord): Promise<void> {
      if (record.outcome !== 'executed' || !mutates(record.action)) return;
      const incident =
        record.incident && record.channel
          ? await incidentOfChannel(record.channel.id)
          : await openIncidentOf(record.environment, record.target);
      if (incident?.status !== 'open') return;
      await watchAfterAction(queue, record, incident, settings.repo);
    },
  };
}
