/**
 * What the engine needs from the outside world. Adapters in src/slack, src/kubernetes, src/github
 * and src/queue implement these; tests and the local shell mode plug in others.
 */
import type { AuditRecord } from './core/audit.js';
import type { DeploymentView, ReplicaSetView } from './core/deployment.js';
import type { Message } from './core/message.js';
import type { CommandJob } from './engine/command-job.js';

export interface Clock {
  now(): number;
}

export interface Chat {
  post(channel: string, message: Message): Promise<{ ts: string }>;
  update(channel: string, ts: string, message: Message): Promise<void>;
  postEphemeral(channel: string, user: string, message: Message): Promise<void>;
}

/** Who people are: display names and user-group membership, cached by the adapter. */
export interface Directory {
  userName(userId: string): Promise<string | undefined>;
  /** Handles (without "@") of the user groups the user belongs to. */
  groupsOf(userId: string): Promise<ReadonlySet<string>>;
}

/** An environment from opsbot.yml, resolved to where it lives. */
export interface ClusterTarget {
  environment: string;
  context?: string | undefined;
  namespace: string;
}

export interface Cluster {
  /** True when this is the built-in sandbox, so every reply can say so. */
  readonly sandbox: boolean;
  getDeployment(target: ClusterTarget, name: string): Promise<DeploymentView>;
  listReplicaSets(target: ClusterTarget, deployment: DeploymentView): Promise<ReplicaSetView[]>;
  /** RFC 6902 JSON patch; answers ConflictError (409) when a resourceVersion in it is stale. */
  jsonPatchDeployment(target: ClusterTarget, name: string, patch: object[]): Promise<DeploymentView>;
  /** Cheap reachability check for /readyz. */
  ping(): Promise<void>;
}

export interface AuditLog {
  /** Idempotent by record id: writing the same record twice leaves one. */
  write(record: AuditRecord): Promise<{ location: string }>;
  ping(): Promise<void>;
}

export interface EnqueueResult {
  jobId: string;
  /** The same request was accepted before; nothing new was queued. */
  duplicate: boolean;
}

/** The queues behind the ack path. */
export interface Jobs {
  enqueueCommand(job: CommandJob): Promise<EnqueueResult>;
  enqueueAudit(record: AuditRecord): Promise<EnqueueResult>;
}

export type LockResult = { acquired: true; release(): Promise<void> } | { acquired: false; heldBy: string };

/** Mutual exclusion across every process sharing Redis: one action per target at a time. */
export interface Locks {
  /** Re-entrant for the same holder id, so a recovered job can take back its own lock. */
  acquire(key: string, holderId: string, description: string): Promise<LockResult>;
}
