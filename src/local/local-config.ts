import { OpsbotConfig } from '../config/schema.js';
import { parseYamlText } from '../config/yaml-file.js';

export const TEAMMATE = { id: 'UTEAMMATE', name: 'teammate' } as const;

/**
 * The config local mode uses when there is no opsbot.yml: a sandbox staging and a protected prod,
 * with the local user allowed everything, and a teammate (/as UTEAMMATE) who can approve.
 */
export function localConfig(userId: string): OpsbotConfig {
  const yaml = `
environments:
  staging: { namespace: apps-staging }
  prod: { namespace: apps-prod, protected: true, scale: { min: 1, max: 20 } }
roles:
  you:
    members: [${userId}]
    can:
      - actions: [rollback, restart, scale, status, history, env.open, env.close, env.extend, env.list, incident.declare, incident.resolve, run]
        environments: [staging, prod]
    approve: [prod]
    emergency: [prod]
  teammate:
    members: [${TEAMMATE.id}]
    can:
      - { actions: [status, history], environments: [staging, prod] }
    approve: [prod]
audit: { repo: local/audit, branch: main, dir: audit }
rollout: { timeout: 2m, pollInterval: 1s }
`;
  return parseYamlText(yaml, '(built-in local config)', OpsbotConfig);
}
