/** The REST verbs over the store, with preconditions, dry run, apply and propagation (https://kubernetes.io/docs/reference/using-api/api-concepts/). */
import { DeploymentController } from './deployment-controller.js';
import { readyOf, revisionOf } from './deployment-util.js';
import {
  alreadyExists,
  badRequest,
  conflict,
  invalid,
  invalidValue,
  KubeStatusError,
  methodNotAllowed,
  notFound,
  required,
  routeNotFound,
  statusDetails,
  unsupportedMediaType,
  verbNotSupported,
} from './errors.js';
import { APPLY_PATCH, applyPatchDocument, PATCH_TYPES, STRATEGIC_PATCH, strategicMerge } from './patch.js';
import { isBrokenTemplate, type PodHealth, PodRegistry, synthesizePod } from './pods.js';
import {
  DEPLOYMENTS,
  groupVersion,
  NAMESPACES,
  PODS,
  REPLICASETS,
  type ResourceType,
  SCALE,
  sameType,
} from './resource-types.js';
import {
  isDryRun,
  mediaType,
  type ParsedRequest,
  type Reply,
  type Route,
  VERB_BY_METHOD,
} from './routing.js';
import { fieldMatcher, matchesRequirements, parseSelector, selectorString } from './selectors.js';
import { type ObjectRef, ObjectStore, refOf, refTo, stampCreated, stampUpdated } from './store.js';
import { type StrategyContext, strategyFor } from './strategies.js';
import type { DeploymentObject, JsonObject, KubeObject, PodTrouble, ReplicaSetObject } from './types.js';
import { clone, deepEqual, isObject, randomSuffix, timestamp } from './values.js';
import { CollectionWatch, watchOptions } from './watch.js';

const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
const BODY_TYPES = ['application/json', 'application/yaml'];

/** The sandbox's resources and the operations on them; KubeApi's state helpers write through here too. */
export class Registry {
  private readonly store = new ObjectStore();
  private readonly pods = new PodRegistry();
  private readonly controller: DeploymentController;
  private clusterIPs = 10;
  private readonly ctx: StrategyContext = {
    allocateClusterIP: () => {
      const n = this.clusterIPs++;
      return `10.96.${Math.floor(n / 250)}.${(n % 250) + 1}`;
    },
  };

  constructor(stepMs: number, deadlineScale: number) {
    this.controller = new DeploymentController(this.store, this.pods, stepMs, deadlineScale);
    for (const name of PROTECTED_NAMESPACES) this.ensureNamespace(name);
  }

  // -- state helpers behind KubeApi ---------------------------------------------------------------------------

  ensureNamespace(name: string, labels: Record<string, string> = {}): KubeObject {
    const existing = this.store.get(refTo(NAMESPACES, '', name));
    if (existing) return existing;
    return this.insert(
      NAMESPACES,
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } } as unknown as KubeObject,
      false,
    );
  }

  /** Creates or replaces an object of a generic type (RBAC objects), as a POST or PUT would. */
  applyObject(type: ResourceType, namespace: string, manifest: object): KubeObject {
    const candidate = this.writable(type, manifest, namespace);
    delete candidate.metadata.resourceVersion;
    const ref = refOf(type, candidate);
    const existing = this.store.get(ref);
    if (!existing) return this.insert(type, candidate, false);
    stampUpdated(existing, candidate);
    return this.store.commit(ref, candidate);
  }

  deleteObject(type: ResourceType, namespace: string, name: string): boolean {
    return this.store.delete(refTo(type, namespace, name));
  }

  /** Every object of a type, in every namespace. */
  objects(type: ResourceType): KubeObject[] {
    return this.store.list(type.group, type.plural);
  }

  applyDeployment(namespace: string, manifest: object, options: { settle?: boolean } = {}): DeploymentObject {
    this.ensureNamespace(namespace);
    const candidate = this.writable(DEPLOYMENTS, manifest, namespace);
    delete candidate.metadata.resourceVersion;
    const existing = this.store.get(refOf(DEPLOYMENTS, candidate));
    const result = existing
      ? this.update(DEPLOYMENTS, existing, candidate, false)
      : this.insert(DEPLOYMENTS, candidate, false);
    if (!options.settle) return result as DeploymentObject;
    this.controller.settle(namespace, result.metadata.name);
    return this.getDeployment(namespace, result.metadata.name) ?? (result as DeploymentObject);
  }

  getDeployment(namespace: string, name: string): DeploymentObject | undefined {
    return this.store.get(refTo(DEPLOYMENTS, namespace, name)) as DeploymentObject | undefined;
  }

  listReplicaSets(namespace: string, deploymentName?: string): ReplicaSetObject[] {
    const owner = deploymentName === undefined ? undefined : this.getDeployment(namespace, deploymentName);
    if (deploymentName !== undefined && !owner) return [];
    return (this.store.list(REPLICASETS.group, REPLICASETS.plural, namespace) as ReplicaSetObject[])
      .filter((rs) => !owner || rs.metadata.ownerReferences?.some((o) => o.uid === owner.metadata.uid))
      .sort((a, b) => revisionOf(a) - revisionOf(b));
  }

  namespaces(): KubeObject[] {
    return this.store.list(NAMESPACES.group, NAMESPACES.plural);
  }

  setPodTrouble(namespace: string, deployment: string, trouble: PodTrouble): void {
    if (!this.getDeployment(namespace, deployment)) throw notFound(DEPLOYMENTS, deployment);
    this.controller.setTrouble(namespace, deployment, trouble);
  }

  settleAll(): void {
    this.controller.settleAll();
  }

  close(): void {
    this.controller.close();
  }

  // -- requests ------------------------------------------------------------------------------------------------

  dispatch(route: Route, request: ParsedRequest): Reply {
    const { type } = route;
    if (route.subresource !== undefined) return this.subresource(route, request);
    if (sameType(type, PODS)) return this.podRequest(route, request);
    if (!type.verbs.includes(VERB_BY_METHOD[request.method] ?? '')) throw methodNotAllowed();
    if (route.name === undefined) {
      if (request.method === 'GET')
        return { status: 200, body: this.list(type, route.namespace, request.query) };
      if (request.method === 'POST' && (route.namespace !== '' || !type.namespaced)) {
        this.requireBodyType(request);
        const obj = this.writable(type, request.body, route.namespace);
        return { status: 201, body: this.insert(type, obj, isDryRun(request.query)) };
      }
      throw methodNotAllowed();
    }
    const ref = refTo(type, route.namespace, route.name);
    switch (request.method) {
      case 'GET':
        return { status: 200, body: this.mustGet(type, ref) };
      case 'PUT':
        return this.replace(type, ref, request);
      case 'PATCH':
        return this.patch(type, ref, request);
      case 'DELETE':
        return this.remove(type, ref, request);
      default:
        throw methodNotAllowed();
    }
  }

  /**
   * GET of a collection with watch: the collection's changes from the store. Pods are synthesized from
   * ReplicaSets, not stored, so they have none, and discovery does not list watch for them.
   */
  watch(route: Route, query: Record<string, string>): CollectionWatch {
    const { type } = route;
    if (!type.verbs.includes('watch')) throw verbNotSupported(type, 'watch');
    const scope = {
      type,
      namespace: route.namespace || undefined,
      labels: parseSelector(query.labelSelector),
      fields: fieldMatcher(query.fieldSelector),
    };
    return new CollectionWatch(this.store, scope, watchOptions(type, query));
  }

  /** Watches listening to the store now: shows that ended ones were let go. */
  get watchers(): number {
    return this.store.subscribers;
  }

  holdWatchEvents(): () => void {
    return this.store.holdNotifications();
  }

  // -- generic resource operations --------------------------------------------------------------------------

  private mustGet(type: ResourceType, ref: ObjectRef): KubeObject {
    const found = this.store.get(ref);
    if (!found) throw notFound(type, ref.name);
    return found;
  }

  private requireBodyType(request: ParsedRequest): void {
    const type = mediaType(request.contentType);
    if (type !== '' && !BODY_TYPES.includes(type))
      throw unsupportedMediaType([...BODY_TYPES, 'application/vnd.kubernetes.protobuf']);
  }

  private requireNamespace(namespace: string): void {
    if (!this.store.get(refTo(NAMESPACES, '', namespace))) throw notFound(NAMESPACES, namespace);
  }

  /** Normalises a request body into an object of this type for this namespace. */
  private writable(type: ResourceType, body: unknown, namespace: string): KubeObject {
    if (!isObject(body)) throw badRequest('the body of the request must be a JSON object');
    const obj = clone(body);
    const metadata = isObject(obj.metadata) ? obj.metadata : {};
    if (type.namespaced) {
      if (metadata.namespace !== undefined && metadata.namespace !== '' && metadata.namespace !== namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      metadata.namespace = namespace;
    } else {
      delete metadata.namespace;
    }
    obj.metadata = metadata;
    if (type.builtin || typeof obj.apiVersion !== 'string') obj.apiVersion = groupVersion(type);
    if (type.builtin || typeof obj.kind !== 'string') obj.kind = type.kind;
    return obj as KubeObject;
  }

  private insert(type: ResourceType, obj: KubeObject, dryRun: boolean): KubeObject {
    const meta = obj.metadata;
    if (!meta.name && typeof meta.generateName === 'string')
      meta.name = `${meta.generateName}${randomSuffix()}`;
    const strategy = strategyFor(type);
    strategy.prepare(obj, undefined, this.ctx);
    const errors = strategy.validate(obj, undefined);
    if (errors.length > 0)
      throw invalid({ ...type, kind: obj.kind }, typeof meta.name === 'string' ? meta.name : '', errors);
    if (type.namespaced) this.requireNamespace(meta.namespace ?? '');
    const ref = refOf(type, obj);
    if (this.store.get(ref)) throw alreadyExists(type, meta.name);
    stampCreated(obj);
    const status = strategy.initialStatus(obj);
    if (status === undefined) delete obj.status;
    else obj.status = status;
    if (dryRun) return obj;
    const stored = this.store.commit(ref, obj);
    this.afterWrite(type, ref);
    return this.store.get(ref) ?? stored;
  }

  /** The shared tail of PUT, PATCH, apply and scale: preconditions, defaulting, validation, persistence. */
  private update(
    type: ResourceType,
    existing: KubeObject,
    candidate: KubeObject,
    dryRun: boolean,
  ): KubeObject {
    const { name, resourceVersion, uid } = existing.metadata;
    if (candidate.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${String(candidate.metadata.name)}) does not match the name on the URL (${name})`,
      );
    }
    const wantedVersion = candidate.metadata.resourceVersion;
    if (wantedVersion && wantedVersion !== resourceVersion) throw conflict(type, name);
    if (candidate.metadata.uid && candidate.metadata.uid !== uid) {
      throw conflict(
        type,
        name,
        `Precondition failed: UID in precondition: ${candidate.metadata.uid}, UID in object meta: ${uid}`,
      );
    }
    const strategy = strategyFor(type);
    strategy.prepare(candidate, existing, this.ctx);
    const errors = strategy.validate(candidate, existing);
    if (errors.length > 0) throw invalid({ ...type, kind: existing.kind }, name, errors);
    stampUpdated(existing, candidate);
    if (deepEqual(candidate, existing) || dryRun) return candidate;
    const ref = refOf(type, existing);
    const stored = this.store.commit(ref, candidate);
    this.afterWrite(type, ref);
    return this.store.get(ref) ?? stored;
  }

  private list(type: ResourceType, namespace: string, query: Record<string, string>): JsonObject {
    const labels = parseSelector(query.labelSelector);
    const fields = fieldMatcher(query.fieldSelector);
    const all = sameType(type, PODS)
      ? this.allPods(namespace)
      : this.store.list(type.group, type.plural, namespace || undefined);
    const items = all.filter((o) => matchesRequirements(o.metadata.labels, labels) && fields(o));
    return {
      kind: `${type.builtin ? type.kind : (items[0]?.kind ?? type.kind)}List`,
      apiVersion: groupVersion(type),
      metadata: { resourceVersion: this.store.resourceVersion },
      // Typed lists of built-in kinds carry no apiVersion/kind on their items.
      items: type.builtin ? items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest) : items,
    };
  }

  private replace(type: ResourceType, ref: ObjectRef, request: ParsedRequest): Reply {
    this.requireBodyType(request);
    const existing = this.mustGet(type, ref);
    const candidate = this.writable(type, request.body, ref.namespace);
    return { status: 200, body: this.update(type, existing, candidate, isDryRun(request.query)) };
  }

  private patchType(type: ResourceType, request: ParsedRequest): string {
    const patchType = mediaType(request.contentType);
    const accepted = type.builtin ? PATCH_TYPES : PATCH_TYPES.filter((t) => t !== STRATEGIC_PATCH);
    if (!accepted.includes(patchType)) throw unsupportedMediaType(accepted);
    return patchType;
  }

  private patch(type: ResourceType, ref: ObjectRef, request: ParsedRequest): Reply {
    const patchType = this.patchType(type, request);
    const dryRun = isDryRun(request.query);
    if (patchType === APPLY_PATCH) return this.apply(type, ref, request, dryRun);
    const existing = this.mustGet(type, ref);
    const patched = applyPatchDocument(patchType, existing, request.body);
    const candidate = this.writable(type, patched, ref.namespace);
    return { status: 200, body: this.update(type, existing, candidate, dryRun) };
  }

  /** Server-side apply, simplified: create when absent, otherwise a strategic merge of the applied config. */
  private apply(type: ResourceType, ref: ObjectRef, request: ParsedRequest, dryRun: boolean): Reply {
    if (!request.query.fieldManager) {
      throw invalid({ group: 'meta.k8s.io', plural: 'patchoptions', kind: 'PatchOptions' }, '', [
        required('fieldManager', 'is required for apply patch'),
      ]);
    }
    if (!isObject(request.body)) throw badRequest('the apply patch must be an object');
    const applied = this.writable(type, request.body, ref.namespace);
    applied.metadata.name ??= ref.name;
    const existing = this.store.get(ref);
    if (!existing) {
      if (applied.metadata.name !== ref.name)
        throw badRequest(
          `the name of the object (${applied.metadata.name}) does not match the name on the URL (${ref.name})`,
        );
      return { status: 201, body: this.insert(type, applied, dryRun) };
    }
    // A resourceVersion in the applied config is a precondition; without one the merge keeps the current one.
    const candidate = this.writable(type, strategicMerge(existing, applied), ref.namespace);
    return { status: 200, body: this.update(type, existing, candidate, dryRun) };
  }

  private remove(type: ResourceType, ref: ObjectRef, request: ParsedRequest): Reply {
    const existing = this.mustGet(type, ref);
    const options = isObject(request.body) ? request.body : {};
    const preconditions = isObject(options.preconditions) ? options.preconditions : {};
    const { resourceVersion, uid } = existing.metadata;
    if (preconditions.resourceVersion && preconditions.resourceVersion !== resourceVersion) {
      throw conflict(
        type,
        ref.name,
        `Precondition failed: ResourceVersion in precondition: ${String(preconditions.resourceVersion)}, ResourceVersion in object meta: ${resourceVersion}`,
      );
    }
    if (preconditions.uid && preconditions.uid !== uid) {
      throw conflict(
        type,
        ref.name,
        `Precondition failed: UID in precondition: ${String(preconditions.uid)}, UID in object meta: ${uid}`,
      );
    }
    if (sameType(type, NAMESPACES) && PROTECTED_NAMESPACES.has(ref.name)) {
      throw new KubeStatusError(
        403,
        'Forbidden',
        `namespaces "${ref.name}" is forbidden: this namespace may not be deleted`,
        statusDetails(type, ref.name),
      );
    }
    const orphan = (request.query.propagationPolicy ?? options.propagationPolicy) === 'Orphan';
    if (!isDryRun(request.query)) this.delete(type, existing, orphan);
    if (sameType(type, NAMESPACES)) return { status: 200, body: terminating(existing) };
    return {
      status: 200,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { ...statusDetails(type, ref.name), uid },
      },
    };
  }

  private delete(type: ResourceType, obj: KubeObject, orphan: boolean): void {
    this.store.delete(refOf(type, obj));
    if (sameType(type, DEPLOYMENTS)) this.controller.onDelete(obj, orphan);
    if (sameType(type, NAMESPACES)) this.deleteNamespaceContents(obj.metadata.name);
  }

  /** Namespace deletion finishes at once: every object in it goes, deployments first so their timers stop. */
  private deleteNamespaceContents(namespace: string): void {
    for (const dep of this.store.list(DEPLOYMENTS.group, DEPLOYMENTS.plural, namespace))
      this.delete(DEPLOYMENTS, dep, false);
    for (const ref of this.store.refsInNamespace(namespace)) {
      const obj = this.store.get(ref);
      this.store.delete(ref);
      if (obj && ref.plural === REPLICASETS.plural) this.pods.forget(obj.metadata.uid);
    }
  }

  private afterWrite(type: ResourceType, ref: ObjectRef): void {
    if (sameType(type, DEPLOYMENTS)) this.controller.onWrite(ref.namespace, ref.name);
  }

  // -- subresources and pods ---------------------------------------------------------------------------------

  private subresource(route: Route, request: ParsedRequest): Reply {
    if (!sameType(route.type, DEPLOYMENTS) || route.subresource !== 'scale' || route.name === undefined)
      throw routeNotFound();
    const ref = refTo(DEPLOYMENTS, route.namespace, route.name);
    if (request.method === 'GET')
      return { status: 200, body: toScale(this.mustGet(DEPLOYMENTS, ref) as DeploymentObject) };
    const dryRun = isDryRun(request.query);
    if (request.method === 'PUT') {
      this.requireBodyType(request);
      return this.writeScale(this.mustGet(DEPLOYMENTS, ref) as DeploymentObject, request.body, dryRun);
    }
    if (request.method === 'PATCH') {
      const patchType = this.patchType(DEPLOYMENTS, request);
      const existing = this.mustGet(DEPLOYMENTS, ref) as DeploymentObject;
      const scale = toScale(existing);
      const patched =
        patchType === APPLY_PATCH
          ? strategicMerge(scale, request.body)
          : applyPatchDocument(patchType, scale, request.body);
      return this.writeScale(existing, patched, dryRun);
    }
    throw methodNotAllowed();
  }

  private writeScale(existing: DeploymentObject, scale: unknown, dryRun: boolean): Reply {
    if (!isObject(scale)) throw badRequest('the body of the request must be a JSON object');
    const replicas = isObject(scale.spec) ? scale.spec.replicas : undefined;
    const name = existing.metadata.name;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw invalid(SCALE, name, [
        invalidValue('spec.replicas', replicas, 'must be greater than or equal to 0'),
      ]);
    }
    const meta = isObject(scale.metadata) ? scale.metadata : {};
    const candidate = clone(existing);
    candidate.spec.replicas = replicas;
    if (typeof meta.resourceVersion === 'string' && meta.resourceVersion !== '')
      candidate.metadata.resourceVersion = meta.resourceVersion;
    else delete candidate.metadata.resourceVersion;
    return {
      status: 200,
      body: toScale(this.update(DEPLOYMENTS, existing, candidate, dryRun) as DeploymentObject),
    };
  }

  private allPods(namespace: string): KubeObject[] {
    const replicaSets = this.store.list(
      REPLICASETS.group,
      REPLICASETS.plural,
      namespace || undefined,
    ) as ReplicaSetObject[];
    return replicaSets.flatMap((rs) => this.podsOf(rs));
  }

  private podsOf(rs: ReplicaSetObject): KubeObject[] {
    const namespace = rs.metadata.namespace ?? '';
    const owner = rs.metadata.ownerReferences?.find((o) => o.controller)?.name;
    const dep = owner === undefined ? undefined : this.getDeployment(namespace, owner);
    const isCurrent = dep !== undefined && revisionOf(dep) === revisionOf(rs);
    const health: PodHealth = {
      broken: isBrokenTemplate(rs.spec.template),
      trouble: isCurrent && owner !== undefined ? this.controller.troubleFor(namespace, owner) : {},
    };
    return this.pods.slotsFor(rs).map((slot, i) => synthesizePod(rs, slot, i < readyOf(rs), health));
  }

  private podRequest(route: Route, request: ParsedRequest): Reply {
    if (route.name === undefined) {
      if (request.method !== 'GET') throw methodNotAllowed();
      return { status: 200, body: this.list(PODS, route.namespace, request.query) };
    }
    const pod = this.allPods(route.namespace).find((p) => p.metadata.name === route.name);
    if (!pod) throw notFound(PODS, route.name);
    if (request.method === 'GET') return { status: 200, body: pod };
    if (request.method !== 'DELETE') throw methodNotAllowed();
    if (!isDryRun(request.query)) this.restartPod(pod);
    return {
      status: 200,
      body: {
        ...pod,
        metadata: { ...pod.metadata, deletionTimestamp: timestamp(), deletionGracePeriodSeconds: 30 },
      },
    };
  }

  /** The ReplicaSet replaces a deleted pod at once: same slot, new name and uid. */
  private restartPod(pod: KubeObject): void {
    const owner = pod.metadata.ownerReferences?.[0];
    const rs = owner && this.store.get(refTo(REPLICASETS, pod.metadata.namespace ?? '', owner.name));
    if (!rs) return;
    const index = this.pods.slotsFor(rs as ReplicaSetObject).findIndex((s) => s.uid === pod.metadata.uid);
    if (index >= 0) this.pods.replace(rs.metadata.uid, index);
  }
}

function terminating(namespace: KubeObject): KubeObject {
  return {
    ...namespace,
    metadata: { ...namespace.metadata, deletionTimestamp: timestamp() },
    status: { phase: 'Terminating' },
  };
}

function toScale(dep: DeploymentObject): JsonObject {
  const { name, namespace, uid, resourceVersion, creationTimestamp } = dep.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
    spec: { replicas: dep.spec.replicas },
    status: { replicas: dep.status.replicas ?? 0, selector: selectorString(dep.spec.selector) },
  };
}
