import type { KubeConfig } from '@kubernetes/client-node';
import type { Cluster } from '../ports.js';
import type { KubeCluster } from './cluster.js';

/**
 * The cluster of the default kubeconfig, with @kubernetes/client-node loaded on first use. Even the
 * APIs opsbot calls bring every API model (about 25 MB of a process's memory), which a web process
 * that only verifies, checks and queues never needs; a worker calls load() at start so no action
 * waits for it.
 */
export class LazyCluster implements Cluster {
  readonly sandbox = false;
  private loading: Promise<KubeCluster> | undefined;

  load(): Promise<KubeCluster> {
    this.loading ??= import('./cluster.js').then((m) => m.KubeCluster.fromDefault());
    return this.loading;
  }

  async kubeconfig(): Promise<KubeConfig> {
    return (await this.load()).kubeconfig;
  }

  getDeployment: Cluster['getDeployment'] = async (...a) => (await this.load()).getDeployment(...a);
  listDeployments: Cluster['listDeployments'] = async (...a) => (await this.load()).listDeployments(...a);
  listReplicaSets: Cluster['listReplicaSets'] = async (...a) => (await this.load()).listReplicaSets(...a);
  listPods: Cluster['listPods'] = async (...a) => (await this.load()).listPods(...a);
  patchDeployment: Cluster['patchDeployment'] = async (...a) => (await this.load()).patchDeployment(...a);
  getScale: Cluster['getScale'] = async (...a) => (await this.load()).getScale(...a);
  replaceScale: Cluster['replaceScale'] = async (...a) => (await this.load()).replaceScale(...a);
  reviewAccess: Cluster['reviewAccess'] = async (...a) => (await this.load()).reviewAccess(...a);
  ping: Cluster['ping'] = async (...a) => (await this.load()).ping(...a);
}
