import type { OpsbotConfig } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
import { KubeConfig } from '../kubernetes/client-node.js';
import { KubeCluster } from '../kubernetes/cluster.js';
import type { KubeApi } from '../sandbox/kube-api.js';

/** The import failed because the sandbox's own files are not there (the image deletes dist/src/sandbox). */
function isSandboxMissing(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return code === 'ERR_MODULE_NOT_FOUND' && /[/\\]sandbox[/\\][\w-]+\.js'/.test(String(message));
}

/** Loads the sandbox on demand, so a process with a real cluster never loads it (the image leaves it out). */
async function loadSandbox() {
  try {
    const [kubeApi, sampleApp] = await Promise.all([
      import('../sandbox/kube-api.js'),
      import('../sandbox/sample-app.js'),
    ]);
    return { startKubeApi: kubeApi.startKubeApi, seedSampleApp: sampleApp.seedSampleApp };
  } catch (err) {
    // Only the sandbox itself missing (the image leaves it out) is a setup problem; anything else is a bug.
    if (!isSandboxMissing(err)) throw err;
    throw new ConfigError(
      'no Kubernetes context was found (KUBECONFIG, ~/.kube/config or in-cluster), and the built-in sandbox cluster is not part of this build; run local mode from a checkout',
      { cause: err },
    );
  }
}

/**
 * The built-in sandbox: a local Kubernetes API that client-node talks to over HTTP, seeded with
 * a sample app in every namespace the config names. Every context in opsbot.yml points at it.
 */
export async function startSandbox(config: OpsbotConfig): Promise<{ api: KubeApi; cluster: KubeCluster }> {
  const { startKubeApi, seedSampleApp } = await loadSandbox();
  const api = await startKubeApi({ host: '127.0.0.1', port: 0, rolloutStepMs: 400 });
  for (const namespace of new Set(Object.values(config.environments).map((e) => e.namespace))) {
    seedSampleApp(api, namespace);
  }
  const contexts = [...new Set(Object.values(config.environments).map((e) => e.context ?? 'sandbox'))];
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigYaml(contexts.map((name) => ({ name }))));
  return { api, cluster: new KubeCluster(kc, true) };
}
