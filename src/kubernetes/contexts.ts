import { KubeConfig } from '@kubernetes/client-node';

/**
 * API clients per kube context, built once each. Every opsbot environment names a context, and
 * client-node binds a client to the kubeconfig's current context when it is made.
 */
export function clientsPerContext<T>(
  kubeconfig: KubeConfig,
  make: (kc: KubeConfig) => T,
): (context: string | undefined) => T {
  const clients = new Map<string, T>();
  return (context) => {
    const key = context ?? '';
    let client = clients.get(key);
    if (!client) {
      const kc = new KubeConfig();
      kc.loadFromString(kubeconfig.exportConfig());
      if (context) kc.setCurrentContext(context);
      client = make(kc);
      clients.set(key, client);
    }
    return client;
  };
}
