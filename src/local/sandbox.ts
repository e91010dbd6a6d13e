import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { OpsbotConfig } from '../config/schema.js';
import { KubeCluster } from '../kubernetes/cluster.js';
import { type KubeApi, startKubeApi } from '../sandbox/kube-api.js';
import { seedSampleApp } from '../sandbox/sample-app.js';

/** Whether a real cluster is configured, the way client-node's loadFromDefault looks for one. */
export function hasKubeContext(env: NodeJS.ProcessEnv): boolean {
  return (
    Boolean(env.KUBECONFIG) ||
    existsSync(join(homedir(), '.kube', 'config')) ||
    Boolean(env.KUBERNETES_SERVICE_HOST)
  );
}

/**
 * The built-in sandbox: a local Kubernetes API that client-node talks to over HTTP, seeded with
 * a sample app in every namespace the config names. Every context in opsbot.yml points at it.
 */
export async function startSandbox(config: OpsbotConfig): Promise<{ api: KubeApi; cluster: KubeCluster }> {
  const api = await startKubeApi({ host: '127.0.0.1', port: 0, rolloutStepMs: 400 });
  for (const namespace of new Set(Object.values(config.environments).map((e) => e.namespace))) {
    seedSampleApp(api, namespace);
  }
  const contexts = [...new Set(Object.values(config.environments).map((e) => e.context ?? 'sandbox'))];
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigYaml(contexts.map((name) => ({ name }))));
  return { api, cluster: new KubeCluster(kc, true) };
}
