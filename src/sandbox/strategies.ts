/** Per-kind defaulting and validation on every write, as the API server's strategies do (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/). */
import { type FieldError, invalidValue, required } from './errors.js';
import { DEPLOYMENTS, NAMESPACES, type ResourceType, sameType } from './resource-types.js';
import { matchesRequirements, parseSelector, selectorString } from './selectors.js';
import type { JsonObject, KubeObject, LabelSelector, ObjectMeta } from './types.js';
import { deepEqual, imageTag, isObject, stringRecord } from './values.js';

const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export interface StrategyContext {
  allocateClusterIP(): string;
}

interface Strategy {
  /** Defaulting and normalisation, run on every write before validation. */
  prepare(obj: KubeObject, old: KubeObject | undefined, ctx: StrategyContext): void;
  validate(obj: KubeObject, old: KubeObject | undefined): FieldError[];
  initialStatus(obj: KubeObject): JsonObject | undefined;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function validateName(meta: ObjectMeta, label: boolean): FieldError[] {
  const name: unknown = meta.name;
  if (typeof name !== 'string' || name === '')
    return [required('metadata.name', 'name or generateName is required')];
  if (label && (!DNS_LABEL.test(name) || name.length > 63)) {
    return [
      invalidValue(
        'metadata.name',
        name,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      ),
    ];
  }
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253) {
    return [
      invalidValue(
        'metadata.name',
        name,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ),
    ];
  }
  return [];
}

const genericStrategy: Strategy = {
  prepare: () => {},
  validate: (obj) => validateName(obj.metadata, false),
  initialStatus: () => undefined,
};

const namespaceStrategy: Strategy = {
  prepare(obj) {
    obj.metadata.labels = { ...stringRecord(obj.metadata.labels), [NAMESPACE_NAME_LABEL]: obj.metadata.name };
    obj.spec = isObject(obj.spec) ? obj.spec : { finalizers: ['kubernetes'] };
  },
  validate: (obj) => validateName(obj.metadata, true),
  initialStatus: () => ({ phase: 'Active' }),
};

const serviceStrategy: Strategy = {
  prepare(obj, old, ctx) {
    const spec = isObject(obj.spec) ? obj.spec : {};
    const oldSpec = old && isObject(old.spec) ? old.spec : {};
    spec.type ??= 'ClusterIP';
    spec.sessionAffinity ??= 'None';
    if (spec.type !== 'ExternalName' && !spec.clusterIP)
      spec.clusterIP = oldSpec.clusterIP ?? ctx.allocateClusterIP();
    if (typeof spec.clusterIP === 'string') spec.clusterIPs ??= [spec.clusterIP];
    for (const port of Array.isArray(spec.ports) ? spec.ports : []) {
      if (!isObject(port)) continue;
      port.protocol ??= 'TCP';
      port.targetPort ??= port.port;
    }
    obj.spec = spec;
  },
  validate: (obj) => validateName(obj.metadata, true),
  initialStatus: () => ({ loadBalancer: {} }),
};

const secretStrategy: Strategy = {
  prepare(obj) {
    obj.type ??= 'Opaque';
    const stringData = stringRecord(obj.stringData);
    if (Object.keys(stringData).length > 0) {
      const encoded = Object.entries(stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')]);
      obj.data = { ...stringRecord(obj.data), ...Object.fromEntries(encoded) };
    }
    delete obj.stringData;
  },
  validate: (obj) => validateName(obj.metadata, false),
  initialStatus: () => undefined,
};

function defaultPodSpec(spec: JsonObject): void {
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  for (const container of Array.isArray(spec.containers) ? spec.containers : []) {
    if (!isObject(container)) continue;
    const image = typeof container.image === 'string' ? container.image : '';
    const tag = imageTag(image);
    container.imagePullPolicy ??= tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
    container.terminationMessagePath ??= '/dev/termination-log';
    container.terminationMessagePolicy ??= 'File';
    container.resources ??= {};
    for (const port of Array.isArray(container.ports) ? container.ports : []) {
      if (isObject(port)) port.protocol ??= 'TCP';
    }
  }
}

function defaultDeployment(obj: KubeObject): void {
  const spec = isObject(obj.spec) ? obj.spec : {};
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  const strategy = isObject(spec.strategy) ? spec.strategy : {};
  strategy.type ??= 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const rolling = isObject(strategy.rollingUpdate) ? strategy.rollingUpdate : {};
    rolling.maxSurge ??= '25%';
    rolling.maxUnavailable ??= '25%';
    strategy.rollingUpdate = rolling;
  }
  spec.strategy = strategy;
  if (isObject(spec.template)) {
    spec.template.metadata = isObject(spec.template.metadata) ? spec.template.metadata : {};
    if (isObject(spec.template.spec)) defaultPodSpec(spec.template.spec);
  }
  obj.spec = spec;
}

function validateTemplate(template: unknown): FieldError[] {
  if (!isObject(template) || !isObject(template.spec)) return [required('spec.template.spec.containers')];
  const containers = template.spec.containers;
  if (!Array.isArray(containers) || containers.length === 0)
    return [required('spec.template.spec.containers')];
  return containers.flatMap((c, i) => {
    const path = `spec.template.spec.containers[${i}]`;
    const errors: FieldError[] = [];
    if (!isObject(c) || typeof c.name !== 'string' || c.name === '') errors.push(required(`${path}.name`));
    if (!isObject(c) || typeof c.image !== 'string' || c.image === '') errors.push(required(`${path}.image`));
    return errors;
  });
}

function validateSelector(spec: JsonObject, old: KubeObject | undefined): FieldError[] {
  const selector = spec.selector;
  if (
    !isObject(selector) ||
    (Object.keys(stringRecord(selector.matchLabels)).length === 0 && !selector.matchExpressions)
  ) {
    return [required('spec.selector')];
  }
  const oldSelector = old && isObject(old.spec) ? old.spec.selector : undefined;
  if (old && !deepEqual(oldSelector, selector))
    return [invalidValue('spec.selector', selector, 'field is immutable')];
  const template = isObject(spec.template) && isObject(spec.template.metadata) ? spec.template.metadata : {};
  const labels = stringRecord(template.labels);
  if (!matchesRequirements(labels, parseSelector(selectorString(selector as LabelSelector)))) {
    return [
      invalidValue('spec.template.metadata.labels', labels, '`selector` does not match template `labels`'),
    ];
  }
  return [];
}

function validateDeployment(obj: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errors = validateName(obj.metadata, false);
  const spec = isObject(obj.spec) ? obj.spec : {};
  const { replicas, revisionHistoryLimit } = spec;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas)) {
    errors.push(invalidValue('spec.replicas', replicas, 'must be an integer'));
  } else if (replicas < 0) {
    errors.push(invalidValue('spec.replicas', replicas, 'must be greater than or equal to 0'));
  }
  if (typeof revisionHistoryLimit !== 'number' || revisionHistoryLimit < 0) {
    errors.push(
      invalidValue('spec.revisionHistoryLimit', revisionHistoryLimit, 'must be greater than or equal to 0'),
    );
  }
  return [...errors, ...validateSelector(spec, old), ...validateTemplate(spec.template)];
}

const deploymentStrategy: Strategy = {
  prepare: (obj) => defaultDeployment(obj),
  validate: validateDeployment,
  initialStatus: () => ({}),
};

export function strategyFor(type: ResourceType): Strategy {
  if (sameType(type, DEPLOYMENTS)) return deploymentStrategy;
  if (sameType(type, NAMESPACES)) return namespaceStrategy;
  if (type.group === '' && type.plural === 'services') return serviceStrategy;
  if (type.group === '' && type.plural === 'secrets') return secretStrategy;
  return genericStrategy;
}
