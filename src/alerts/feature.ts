import { incidentDeclare } from '../../commands/incident-declare.js';
import { incidentPostmortem } from '../../commands/incident-postmortem.js';
import { incidentResolve } from '../../commands/incident-resolve.js';
import type { IncidentCommands } from '../ports.js';
import { defineFeature } from '../runtime.js';

/**
 * Incidents from alerts: the webhooks of every source in ./sources open a channel and an issue,
 * and `/ops incident declare|resolve` do it by hand; `/ops incident postmortem` drafts the postmortem. On when opsbot.yml has `incidents:`.
 */
export const incidentsFeature = defineFeature<IncidentCommands>({
  name: 'incidents',
  enabled: (config) => Boolean(config.incidents),
  off: 'Incidents are not set up here (opsbot.yml has no incidents: section).',
  commands: [incidentDeclare, incidentResolve, incidentPostmortem],
  // Loaded only when turned on: a bot without incidents never imports their code.
  start: async (runtime) => (await import('./start.js')).startIncidents(runtime),
});
