import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Whether a real cluster is configured, the way client-node's loadFromDefault looks for one. Apart
 * from the client, so that deciding costs no import of it.
 */
export function hasKubeContext(env: NodeJS.ProcessEnv): boolean {
  return (
    Boolean(env.KUBECONFIG) ||
    existsSync(join(homedir(), '.kube', 'config')) ||
    Boolean(env.KUBERNETES_SERVICE_HOST)
  );
}
