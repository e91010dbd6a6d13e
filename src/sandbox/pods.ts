/** Pods synthesized from ReplicaSets, with the status a kubelet would report (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/). */
import { randomUUID } from 'node:crypto';
import type {
  Container,
  JsonObject,
  KubeObject,
  PodTemplate,
  PodTrouble,
  ReplicaSetObject,
} from './types.js';
import { clone, fnv32a, imageTag, randomSuffix, timestamp } from './values.js';

interface PodSlot {
  suffix: string;
  uid: string;
  startedAt: string;
}

/** Images tagged "...broken..." crash forever: the sandbox's way to produce a stuck rollout. */
export function isBrokenTemplate(template: PodTemplate): boolean {
  return template.spec.containers.some((c) => imageTag(c.image).includes('broken'));
}

/** Stable pod identities per ReplicaSet; deleting a pod gives its slot a new identity, as the RS would. */
export class PodRegistry {
  private readonly slots = new Map<string, PodSlot[]>();

  slotsFor(rs: ReplicaSetObject): PodSlot[] {
    const slots = this.slots.get(rs.metadata.uid) ?? [];
    while (slots.length < rs.spec.replicas) slots.push(newSlot());
    slots.length = rs.spec.replicas;
    this.slots.set(rs.metadata.uid, slots);
    return slots;
  }

  replace(rsUid: string, index: number): void {
    const slots = this.slots.get(rsUid);
    if (slots && index < slots.length) slots[index] = newSlot();
  }

  trim(rsUid: string, replicas: number): void {
    const slots = this.slots.get(rsUid);
    if (slots && slots.length > replicas) slots.length = replicas;
  }

  forget(rsUid: string): void {
    this.slots.delete(rsUid);
  }
}

const newSlot = (): PodSlot => ({ suffix: randomSuffix(), uid: randomUUID(), startedAt: timestamp() });

export interface PodHealth {
  broken: boolean;
  trouble: PodTrouble;
}

function containerStatus(
  c: Container,
  ready: boolean,
  startedAt: string,
  waitingReason: string,
  restarts: number,
): JsonObject {
  return {
    name: c.name,
    image: c.image,
    imageID: `${c.image.split(':')[0]}@sha256:${fnv32a(c.image).toString(16).padStart(8, '0').repeat(8)}`,
    ready,
    started: ready,
    restartCount: restarts,
    state: ready ? { running: { startedAt } } : { waiting: { reason: waitingReason } },
  };
}

export function synthesizePod(
  rs: ReplicaSetObject,
  slot: PodSlot,
  ready: boolean,
  health: PodHealth,
): KubeObject {
  const template = rs.spec.template;
  const unhealthy = health.broken || (health.trouble.notReady ?? 0) > 0;
  const waitingReason = unhealthy ? 'CrashLoopBackOff' : 'ContainerCreating';
  const restarts = health.trouble.restarts ?? 0;
  const readyStatus = ready ? 'True' : 'False';
  const ipHash = fnv32a(slot.uid);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${rs.metadata.name}-${slot.suffix}`,
      generateName: `${rs.metadata.name}-`,
      namespace: rs.metadata.namespace ?? '',
      uid: slot.uid,
      resourceVersion: rs.metadata.resourceVersion ?? '',
      creationTimestamp: slot.startedAt,
      labels: { ...(template.metadata.labels ?? {}) },
      ...(template.metadata.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: rs.metadata.name,
          uid: rs.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: { ...clone(template.spec), nodeName: 'sandbox-node' },
    status: {
      phase: 'Running',
      conditions: [
        { type: 'Initialized', status: 'True', lastTransitionTime: slot.startedAt },
        { type: 'Ready', status: readyStatus, lastTransitionTime: slot.startedAt },
        { type: 'ContainersReady', status: readyStatus, lastTransitionTime: slot.startedAt },
        { type: 'PodScheduled', status: 'True', lastTransitionTime: slot.startedAt },
      ],
      hostIP: '10.0.0.10',
      podIP: `10.244.${ipHash % 250}.${((ipHash >>> 8) % 250) + 2}`,
      startTime: slot.startedAt,
      containerStatuses: template.spec.containers.map((c) =>
        containerStatus(c, ready, slot.startedAt, waitingReason, restarts),
      ),
    },
  };
}
