import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, AppsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import {
  type KubeApi,
  type KubeApiOptions,
  type KubeconfigContext,
  startKubeApi,
} from '../../src/sandbox/kube-api.js';

export * from '../../src/sandbox/kube-api.js';
export { seedSampleApp } from '../../src/sandbox/sample-app.js';

export type KubeFakeOptions = Omit<KubeApiOptions, 'host' | 'port'>;

/** Starts the sandbox Kubernetes API on 127.0.0.1 and a random port. */
export function startKubeFake(opts: KubeFakeOptions = {}): Promise<KubeApi> {
  return startKubeApi({ ...opts, host: '127.0.0.1', port: 0 });
}

export interface KubeClients {
  kc: KubeConfig;
  apps: AppsV1Api;
  core: CoreV1Api;
  objects: KubernetesObjectApi;
}

/** client-node clients loaded from a kubeconfig the fake writes (the file is removed once read). */
export function kubeClients(
  api: KubeApi,
  contexts: KubeconfigContext[] = [{ name: 'sandbox', namespace: 'default' }],
  current?: string,
): KubeClients {
  const dir = mkdtempSync(join(tmpdir(), 'opsbot-kube-'));
  const kc = new KubeConfig();
  try {
    const file = join(dir, 'kubeconfig');
    api.writeKubeconfig(file, contexts, current);
    kc.loadFromFile(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    kc,
    apps: kc.makeApiClient(AppsV1Api),
    core: kc.makeApiClient(CoreV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}

export interface KubeFailure {
  code: number;
  /** The v1 Status the server answered with. */
  status: {
    kind?: string;
    status?: string;
    message?: string;
    reason?: string;
    code?: number;
    details?: Record<string, unknown>;
  };
  headers: Record<string, string>;
}

/** Awaits a client-node call that must fail and returns the server's answer. */
export async function kubeFailure(call: Promise<unknown>): Promise<KubeFailure> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body: unknown = err.body;
    const status = typeof body === 'string' && body !== '' ? JSON.parse(body) : {};
    return { code: err.code, status, headers: (err.headers ?? {}) as Record<string, string> };
  }
  throw new Error('expected the Kubernetes API call to fail, but it succeeded');
}
