import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpsbotConfig } from '../config/schema.js';
import { parseYamlText } from '../config/yaml-file.js';

export const TEAMMATE = { id: 'UTEAMMATE', name: 'teammate' } as const;

/** The role the local user holds in the built-in config: everything, as the one operator of a sandbox. */
export const LOCAL_ROLE = 'local-operator';

/** The checkout opsbot runs from (the folder with its package.json), wherever the shell was started. */
export function packageRoot(from = fileURLToPath(import.meta.url)): string {
  for (let dir = dirname(from); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no package.json above ${from}`);
}

/**
 * The config local mode uses when there is no opsbot.yml: a sandbox staging and a protected prod,
 * preview environments from the sample template, and incidents in staging, with the local user
 * allowed everything and a teammate (/as UTEAMMATE) who can approve.
 */
export function localConfig(userId: string, root = packageRoot()): OpsbotConfig {
  // JSON strings are YAML strings: paths with spaces or colons stay one value.
  const runbooks = JSON.stringify(join(root, 'runbooks'));
  const template = JSON.stringify(join(root, 'runbooks', 'preview'));
  const yaml = `
environments:
  staging: { namespace: apps-staging }
  prod: { namespace: apps-prod, protected: true, scale: { min: 1, max: 20 } }
roles:
  ${LOCAL_ROLE}:
    members: [${userId}]
    can:
      - actions: [rollback, restart, scale, pause, resume, status, history, env.open, env.close, env.extend, env.list, incident.declare, incident.resolve, run]
        environments: [staging, prod]
    approve: [prod]
    emergency: [prod]
  teammate:
    members: [${TEAMMATE.id}]
    can:
      - { actions: [status, history], environments: [staging, prod] }
    approve: [prod]
audit: { repo: local/audit, branch: main, dir: audit }
runbooks: { dir: ${runbooks} }
preview:
  template: ${template}
  host: "{{name}}.preview.localhost"
  environment: staging
  image: ghcr.io/acme/web
  ttl: 2h
  reapEvery: 10s
incidents:
  repo: local/incidents
  environment: staging
  routes:
    - { invite: [${userId}, ${TEAMMATE.id}] }
rollout: { timeout: 2m, pollInterval: 1s }
`;
  return parseYamlText(yaml, '(built-in local config)', OpsbotConfig);
}
