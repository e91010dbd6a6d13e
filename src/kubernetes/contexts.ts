import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import type { ClusterIdentity } from '../ports.js';
import { KubeConfig } from './client-node.js';

/** Clients kept per (context, identity); the least recently used are dropped past this many. */
export const MAX_CLIENTS = 256;

/** One kept-alive agent per server and TLS settings, shared by every client and identity. */
const agents = new Map<string, HttpAgent>();

function keptAlive(fresh: HttpAgent, server: string | undefined): HttpAgent {
  // Proxy agents keep their own pools; only Node's own agents are rebuilt with keepAlive.
  if (!(fresh instanceof HttpAgent)) return fresh;
  const { ca, cert, key, pfx, rejectUnauthorized, servername } = (fresh as HttpsAgent)
    .options as HttpsAgentOptions;
  const id = JSON.stringify([
    server,
    fresh instanceof HttpsAgent,
    rejectUnauthorized,
    servername,
    ...[ca, cert, key, pfx].map(fingerprint),
  ]);
  let agent = agents.get(id);
  if (!agent) {
    const options = { ...(fresh as HttpsAgent).options, keepAlive: true };
    agent = fresh instanceof HttpsAgent ? new HttpsAgent(options) : new HttpAgent(options);
    agents.set(id, agent);
  }
  return agent;
}

function fingerprint(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return createHash('sha256')
    .update(Buffer.isBuffer(value) ? value : String(value))
    .digest('hex');
}

/**
 * client-node 1.4 makes a new agent for every request, so each call to the API server opened a new
 * TLS connection (a handshake, and a new SecureContext costing milliseconds of CPU). This kubeconfig
 * hands every request one kept-alive agent per server instead.
 */
class KeptAliveKubeConfig extends KubeConfig {
  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getAgent();
    if (fresh) context.setAgent(keptAlive(fresh, this.getCurrentCluster()?.server));
  }
}

/**
 * A kubeconfig whose every request carries Impersonate-User and one Impersonate-Group line per group
 * (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#user-impersonation).
 * client-node 1.4 knows only the user (`as` in a kubeconfig); the groups are added here.
 */
class ImpersonatingKubeConfig extends KeptAliveKubeConfig {
  constructor(private readonly identity: ClusterIdentity) {
    super();
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    context.setHeaderParam('Impersonate-User', this.identity.user);
    const groups = this.identity.groups.map((g) => ['Impersonate-Group', g] as const);
    if (groups.length === 0) return;
    // Headers are a record, which holds one value per name; node-fetch also takes a list of pairs,
    // and sends a repeated name as separate lines, which the API server needs (one group per line).
    const own = context.getHeaders.bind(context);
    context.getHeaders = (() => [
      ...Object.entries(own()),
      ...groups,
    ]) as unknown as typeof context.getHeaders;
  }
}

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];

const keyOf = (context: string | undefined, identity: ClusterIdentity | undefined) =>
  JSON.stringify([context ?? '', identity?.user ?? null, identity?.groups ?? []]);

/** A copy of the kubeconfig bound to one context (client-node binds to the current one), as opsbot or as `identity`. */
export function kubeconfigFor(
  kubeconfig: KubeConfig,
  context: string | undefined,
  identity?: ClusterIdentity,
): KubeConfig {
  const kc = identity ? new ImpersonatingKubeConfig(identity) : new KeptAliveKubeConfig();
  kc.loadFromString(kubeconfig.exportConfig());
  if (context) kc.setCurrentContext(context);
  return kc;
}

/**
 * API clients per kube context and identity, built on first use. Every opsbot environment names a
 * context, and client-node binds a client to the kubeconfig's current context when it is made.
 */
export function clientsPerContext<T>(
  kubeconfig: KubeConfig,
  make: (kc: KubeConfig) => T,
  maxClients = MAX_CLIENTS,
): (context: string | undefined, identity?: ClusterIdentity) => T {
  const clients = new Map<string, T>();
  return (context, identity) => {
    const key = keyOf(context, identity);
    let client = clients.get(key);
    if (client) {
      // Re-inserted so the Map's order is least recently used first.
      clients.delete(key);
      clients.set(key, client);
      return client;
    }
    client = make(kubeconfigFor(kubeconfig, context, identity));
    clients.set(key, client);
    if (clients.size > maxClients) {
      const oldest = clients.keys().next().value;
      if (oldest !== undefined) clients.delete(oldest);
    }
    return client;
  };
}
