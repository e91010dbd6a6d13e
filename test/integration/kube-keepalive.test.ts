/**
 * Connections to the API server are kept alive: client-node 1.4 alone makes a new agent, so a new
 * TLS connection and handshake, for every request. Checked against the fake over HTTPS, counting
 * the TCP connections it accepts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeCluster } from '../../src/kubernetes/cluster.js';
import { type KubeApi, kubeClients, seedSampleApp, startKubeFake } from '../fakes/kubernetes.js';
import { selfSignedCert } from '../helpers/tls.js';

let kube: KubeApi;

beforeAll(async () => {
  kube = await startKubeFake({ tls: selfSignedCert(), rolloutStepMs: 0 });
  seedSampleApp(kube, 'apps');
});

afterAll(async () => {
  await kube.close();
});

describe('the Kubernetes client over TLS', () => {
  it('sends many requests, as opsbot and as impersonated users, over few connections', async () => {
    const cluster = new KubeCluster(kubeClients(kube, [{ name: 'staging' }], 'staging').kc);
    const asOpsbot = { environment: 'staging', context: 'staging', namespace: 'apps' };
    const asAlice = { ...asOpsbot, identity: { user: 'alice@example.com', groups: ['opsbot:oncall'] } };
    const before = kube.connections;
    for (let i = 0; i < 10; i++) {
      const dep = await cluster.getDeployment(i % 2 ? asAlice : asOpsbot, 'api');
      expect(dep.name).toBe('api');
      await cluster.listReplicaSets(asOpsbot, dep);
    }
    expect(kube.requests.length).toBeGreaterThanOrEqual(20);
    // One connection would do; a second may open while the first is still busy. 20 without keep-alive.
    expect(kube.connections - before).toBeLessThanOrEqual(2);
  });
});
