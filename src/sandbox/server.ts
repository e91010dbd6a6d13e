/** The HTTP server: bearer auth, body limit, recording, faults, kubeconfig (https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/). */
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { stringify as stringifyYaml } from 'yaml';
import { AUTHENTICATED, actingAs, attributesOf, forbidden, reviewAccess } from './access.js';
import { badRequest, KubeStatusError, methodNotAllowed, routeNotFound } from './errors.js';
import { FaultQueue } from './faults.js';
import {
  authorize,
  type Decision,
  type RbacState,
  type ResourceAttributes,
  toBinding,
  toRole,
  type UserInfo,
} from './rbac.js';
import { Registry } from './registry.js';
import {
  CLUSTER_ROLE_BINDINGS,
  CLUSTER_ROLES,
  type ResourceType,
  ROLE_BINDINGS,
  ROLES,
  SUBJECT_ACCESS_REVIEWS,
  sameType,
} from './resource-types.js';
import { type ParsedRequest, parseBody, queryFlag, type Reply, resolveTarget } from './routing.js';
import type {
  DeploymentObject,
  FaultRule,
  KubeApi,
  KubeApiOptions,
  KubeconfigContext,
  KubeObject,
  PodTrouble,
  RecordedRequest,
  ReplicaSetObject,
} from './types.js';
import { CollectionWatch, type WatchEvent } from './watch.js';

const DEFAULT_TOKEN = 'sandbox-token';
const RBAC_TYPES = [ROLES, ROLE_BINDINGS, CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS];
const DEFAULT_STEP_MS = 200;
const BODY_LIMIT_BYTES = 5 * 1024 * 1024;

/** The HTTP front of the sandbox: KubeApi for tests and local mode, the registry behind it. */
export class SandboxKubeApi implements KubeApi {
  url = '';
  readonly token: string;
  readonly requests: RecordedRequest[] = [];
  /** TCP connections accepted so far: shows whether clients keep theirs alive. */
  connections = 0;
  private readonly server: Server;
  private readonly registry: Registry;
  private readonly faults = new FaultQueue();
  /** Open watch streams, each ended by its function: close() ends them so it never waits on one. */
  private readonly streams = new Set<() => void>();

  constructor(private readonly options: KubeApiOptions) {
    this.token = options.token ?? DEFAULT_TOKEN;
    this.registry = new Registry(
      options.rolloutStepMs ?? DEFAULT_STEP_MS,
      options.progressDeadlineScale ?? 1,
    );
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      this.onRequest(req, res).catch(() => res.destroy());
    };
    this.server = options.tls ? createTlsServer(options.tls, listener) : createServer(listener);
    this.server.on('connection', () => {
      this.connections++;
    });
  }

  async listen(): Promise<void> {
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, host, () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = `${this.options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  // -- KubeApi: kubeconfig --------------------------------------------------------------------------------

  kubeconfigYaml(contexts: KubeconfigContext[], current?: string): string {
    const cluster = 'opsbot-sandbox';
    return stringifyYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: cluster, cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: cluster, user: { token: this.token } }],
      contexts: contexts.map((c) => ({
        name: c.name,
        context: { cluster, user: cluster, ...(c.namespace ? { namespace: c.namespace } : {}) },
      })),
      'current-context': current ?? contexts[0]?.name ?? '',
      preferences: {},
    });
  }

  writeKubeconfig(file: string, contexts: KubeconfigContext[], current?: string): void {
    writeFileSync(file, this.kubeconfigYaml(contexts, current), { mode: 0o600 });
  }

  // -- KubeApi: state helpers -------------------------------------------------------------------------------

  ensureNamespace(name: string, labels: Record<string, string> = {}): KubeObject {
    return this.registry.ensureNamespace(name, labels);
  }

  applyDeployment(namespace: string, manifest: object, options: { settle?: boolean } = {}): DeploymentObject {
    return this.registry.applyDeployment(namespace, manifest, options);
  }

  getDeployment(namespace: string, name: string): DeploymentObject | undefined {
    return this.registry.getDeployment(namespace, name);
  }

  listReplicaSets(namespace: string, deploymentName?: string): ReplicaSetObject[] {
    return this.registry.listReplicaSets(namespace, deploymentName);
  }

  getObject(apiPath: string): KubeObject | undefined {
    const [pathname = ''] = apiPath.split('?');
    const target = resolveTarget(pathname);
    if (!target || !('route' in target) || target.route.name === undefined) return undefined;
    try {
      const reply = this.registry.dispatch(target.route, {
        method: 'GET',
        pathname,
        query: {},
        contentType: undefined,
        body: undefined,
        bodyError: undefined,
      });
      return reply.body as KubeObject;
    } catch (err) {
      if (err instanceof KubeStatusError && err.code === 404) return undefined;
      throw err;
    }
  }

  namespaces(): KubeObject[] {
    return this.registry.namespaces();
  }

  setPodTrouble(namespace: string, deployment: string, trouble: PodTrouble): void {
    this.registry.setPodTrouble(namespace, deployment, trouble);
  }

  async settle(): Promise<void> {
    this.registry.settleAll();
  }

  applyRbac(manifest: object): KubeObject {
    const kind = (manifest as { kind?: unknown }).kind;
    const type = RBAC_TYPES.find((t) => t.kind === kind);
    if (!type) throw new Error(`not an RBAC kind: ${String(kind)}`);
    const namespace = (manifest as { metadata?: { namespace?: string } }).metadata?.namespace ?? '';
    if (type.namespaced) this.registry.ensureNamespace(namespace);
    return this.registry.applyObject(type, namespace, manifest);
  }

  deleteRbac(kind: string, name: string, namespace = ''): boolean {
    const type = RBAC_TYPES.find((t) => t.kind === kind);
    if (!type) throw new Error(`not an RBAC kind: ${kind}`);
    return this.registry.deleteObject(type, type.namespaced ? namespace : '', name);
  }

  failNext(rule: FaultRule): void {
    this.faults.add(rule);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  beforeNext(match: Pick<FaultRule, 'method' | 'path'>, write: () => void): void {
    this.faults.addWrite(match, write);
  }

  /** Watches listening for changes now: a closed one must let go of its listener. */
  get openWatches(): number {
    return this.registry.watchers;
  }

  holdWatchEvents(): () => void {
    return this.registry.holdWatchEvents();
  }

  async close(): Promise<void> {
    this.registry.close();
    for (const end of [...this.streams]) end();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  // -- HTTP -----------------------------------------------------------------------------------------------

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    // Keep reading past the limit so the client gets a 413 rather than a reset connection.
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size <= BODY_LIMIT_BYTES) chunks.push(chunk as Buffer);
    }
    const tooLarge = size > BODY_LIMIT_BYTES;
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const contentType = req.headers['content-type'];
    const parsed = tooLarge
      ? { body: undefined, error: undefined }
      : parseBody(Buffer.concat(chunks), contentType);
    const request: ParsedRequest = {
      method: (req.method ?? 'GET').toUpperCase(),
      pathname: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType,
      body: parsed.body,
      bodyError: parsed.error,
    };
    // headersDistinct keeps repeated Impersonate-Group lines apart; `headers` would join them with ", ".
    const impersonate = {
      user: req.headersDistinct['impersonate-user']?.[0],
      groups: req.headersDistinct['impersonate-group'] ?? [],
    };
    const impersonating = impersonate.user !== undefined || impersonate.groups.length > 0;
    this.requests.push({
      method: request.method,
      path: request.pathname,
      query: request.query,
      contentType,
      body: request.body,
      at: Date.now(),
      ...(impersonating ? { impersonate } : {}),
    });
    const answer = this.respond(request, req.headers.authorization, tooLarge, impersonate);
    if (answer instanceof CollectionWatch) this.stream(res, answer);
    else this.send(res, answer);
  }

  /**
   * A watch's response: 200, chunked JSON, one event per line until the watch ends it, the client
   * goes or the server closes (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes).
   */
  private stream(res: ServerResponse, watch: CollectionWatch): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // Headers now, so the client sees the watch start before any event.
    res.flushHeaders();
    const open = () => !res.writableEnded && !res.destroyed;
    const end = () => {
      if (open()) res.end();
    };
    const stop = watch.start(
      {
        send: (event: WatchEvent) => {
          if (open()) res.write(`${JSON.stringify(event)}\n`);
        },
        end,
      },
      this.options.bookmarkIntervalMs,
    );
    this.streams.add(end);
    // Ended by the watch, the server or the client: the listener and timers go with the response.
    res.once('close', () => {
      stop();
      this.streams.delete(end);
    });
  }

  private respond(
    request: ParsedRequest,
    authorization: string | undefined,
    tooLarge: boolean,
    impersonate: { user: string | undefined; groups: string[] },
  ): Reply | CollectionWatch {
    if (['/healthz', '/livez', '/readyz'].includes(request.pathname)) return { status: 200, body: 'ok' };
    try {
      if (authorization !== `Bearer ${this.token}`)
        throw new KubeStatusError(401, 'Unauthorized', 'Unauthorized');
      const caller: UserInfo = this.options.rbac
        ? { name: this.options.rbac.user, groups: [...(this.options.rbac.groups ?? []), AUTHENTICATED] }
        : { name: 'sandbox', groups: [AUTHENTICATED] };
      const user = actingAs(caller, impersonate, (u, attrs) => this.decide(u, attrs));
      this.faults.interleave(request.method, request.pathname);
      const fault = this.faults.take(request.method, request.pathname);
      if (fault) throw fault;
      if (tooLarge)
        throw new KubeStatusError(
          413,
          'RequestEntityTooLarge',
          `Request entity too large: limit is ${BODY_LIMIT_BYTES}`,
        );
      return this.route(request, user);
    } catch (err) {
      const error =
        err instanceof KubeStatusError
          ? err
          : new KubeStatusError(
              500,
              'InternalError',
              `an error on the server ("${String(err)}") has prevented the request from succeeding`,
            );
      return { status: error.code, body: error.toStatus(), headers: error.headers };
    }
  }

  private send(res: ServerResponse, reply: Reply): void {
    const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    const contentType = typeof reply.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
    res.writeHead(reply.status, { 'Content-Type': contentType, ...(reply.headers ?? {}) });
    res.end(text);
  }

  /** RBAC when enabled; otherwise every request is allowed (AlwaysAllow). */
  private decide(user: UserInfo, attrs: ResourceAttributes): Decision {
    if (!this.options.rbac) return { allowed: true, reason: '' };
    return authorize(this.rbacState(), user, attrs);
  }

  private rbacState(): RbacState {
    const objects = (type: ResourceType) => this.registry.objects(type);
    return {
      roles: objects(ROLES).map(toRole),
      clusterRoles: objects(CLUSTER_ROLES).map(toRole),
      roleBindings: objects(ROLE_BINDINGS).map((b) => toBinding(b, true)),
      clusterRoleBindings: objects(CLUSTER_ROLE_BINDINGS).map((b) => toBinding(b, false)),
    };
  }

  private route(request: ParsedRequest, user: UserInfo): Reply | CollectionWatch {
    const target = resolveTarget(request.pathname);
    if (!target) throw routeNotFound();
    // Discovery paths are readable by every authenticated user (the default system:discovery binding).
    if ('discovery' in target) {
      if (request.method !== 'GET') throw methodNotAllowed();
      return { status: 200, body: target.discovery };
    }
    const attrs = attributesOf(target.route, request.method, request.query);
    const decision = this.decide(user, attrs);
    if (!decision.allowed) throw forbidden(user.name, attrs, decision.reason);
    if (sameType(target.route.type, SUBJECT_ACCESS_REVIEWS)) {
      if (request.method !== 'POST' || target.route.name !== undefined) throw methodNotAllowed();
      return { status: 201, body: reviewAccess(request.body, (u, a) => this.decide(u, a)) };
    }
    // Only a collection is watched; a named GET ignores watch, as the real handler does.
    const { route } = target;
    if (request.method === 'GET' && route.name === undefined && route.subresource === undefined) {
      if (queryFlag(request.query, 'watch')) return this.registry.watch(route, request.query);
    }
    if (['POST', 'PUT', 'PATCH'].includes(request.method) && request.bodyError !== undefined) {
      throw badRequest(`couldn't get version/kind; json parse error: ${request.bodyError}`);
    }
    return this.registry.dispatch(target.route, request);
  }
}
