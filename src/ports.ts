/**
 * What the engine needs from the outside world. Adapters in src/slack, src/kubernetes, src/github
 * and src/queue implement these; tests and the local shell mode plug in others.
 */
import type { AuditRecord } from './core/audit.js';
import type { CommandJob, CommandJobInput } from './core/command-job.js';
import type { DeploymentView, ReplicaSetView } from './core/deployment.js';
import type { Message } from './core/message.js';
import type { LedgerEntry } from './core/undo.js';

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
  /** Handles (without "@") of the user groups the user belongs to; none when they cannot be checked. */
  groupsOf(userId: string): Promise<ReadonlySet<string>>;
  /** The email on the user's Slack profile (needs the users:read.email scope); undefined when hidden or absent. */
  emailOf?(userId: string): Promise<string | undefined>;
  /** Why memberships could not be checked just now (roles from user groups then do not apply). */
  groupsUnavailable?(): string | undefined;
}

/** The person opsbot acts as in Kubernetes, sent as Impersonate-User and Impersonate-Group. */
export interface ClusterIdentity {
  user: string;
  groups: readonly string[];
}

/** An environment from opsbot.yml, resolved to where it lives. */
export interface ClusterTarget {
  environment: string;
  context?: string | undefined;
  namespace: string;
  /** Set when the environment impersonates the requester: every call is made as this identity. */
  identity?: ClusterIdentity | undefined;
}

/** One request, as a SubjectAccessReview asks about it (the namespace comes from the target). */
export interface ResourceAccess {
  verb: string;
  /** The API group: "apps" for deployments, "" for the core group. */
  group: string;
  resource: string;
  subresource?: string | undefined;
  name?: string | undefined;
}

/** The API server's answer to a SubjectAccessReview. */
export interface AccessReview {
  allowed: boolean;
  /** The authorizer's reason, often empty for a plain denial. */
  reason: string;
}

export type PatchType = 'json' | 'strategic' | 'merge';

export interface PodView {
  name: string;
  phase: string;
  ready: boolean;
  restarts: number;
  /** Why a container is not running, e.g. CrashLoopBackOff or ImagePullBackOff. */
  reason?: string | undefined;
}

export interface ScaleView {
  replicas: number;
  resourceVersion: string;
}

export interface WriteOptions {
  /** Server-side dry run: the API server validates and answers with the result, and stores nothing. */
  dryRun?: boolean;
}

/**
 * Where a read comes from. 'cache': the watch cache of the target's namespace when it is in sync, so
 * no request at all, else the API server; it may lag a change by a watch event, so only plans whose
 * writes are guarded by resourceVersion read it. 'server': the API server, always.
 */
export type ReadFrom = 'server' | 'cache';

export interface Cluster {
  /** True when this is the built-in sandbox, so every reply can say so. */
  readonly sandbox: boolean;
  getDeployment(target: ClusterTarget, name: string, from?: ReadFrom): Promise<DeploymentView>;
  /** The names of the deployments in the target's namespace, sorted: what a form offers to pick from. */
  listDeployments(target: ClusterTarget): Promise<string[]>;
  listReplicaSets(
    target: ClusterTarget,
    deployment: DeploymentView,
    from?: ReadFrom,
  ): Promise<ReplicaSetView[]>;
  listPods(target: ClusterTarget, deployment: DeploymentView): Promise<PodView[]>;
  /** Answers StateError 'conflict' (409) when a resourceVersion in the patch is stale. */
  patchDeployment(
    target: ClusterTarget,
    name: string,
    patch: object,
    type: PatchType,
    options?: WriteOptions,
  ): Promise<DeploymentView>;
  getScale(target: ClusterTarget, name: string): Promise<ScaleView>;
  /** Through the scale subresource, guarded by resourceVersion. */
  replaceScale(
    target: ClusterTarget,
    name: string,
    scale: ScaleView,
    options?: WriteOptions,
  ): Promise<ScaleView>;
  /**
   * Asks the API server, as opsbot itself, whether `identity` may make `access` in the target's
   * namespace (a SubjectAccessReview).
   */
  reviewAccess(
    target: ClusterTarget,
    identity: ClusterIdentity,
    access: ResourceAccess,
  ): Promise<AccessReview>;
  /** Cheap reachability check for /readyz, per kube context in use. */
  ping(context?: string): Promise<void>;
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
  enqueueCommand(job: CommandJobInput): Promise<EnqueueResult>;
  enqueueAudit(record: AuditRecord): Promise<EnqueueResult>;
  /** Expires a pending approval at `at` (ms since epoch) unless it was decided before. */
  scheduleApprovalExpiry(approvalId: string, at: number): Promise<void>;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired';

/** A request waiting for a second person, kept server-side; buttons carry only its id. */
export interface ApprovalRequest {
  id: string;
  status: ApprovalStatus;
  job: CommandJob;
  plan: string[];
  /** The target's spec version (specVersionOf) the plan was made from. */
  specVersion: string | undefined;
  /** Only on requests stored before specVersion existed. */
  resourceVersion?: string | undefined;
  environment: string;
  target: string | undefined;
  /** The approval message, which later shows the action's progress. */
  channel: string;
  messageTs: string;
  expiresAt: number;
  decidedBy?: { id: string; name?: string | undefined } | undefined;
  /** The delivery (Slack's trigger id and action ts) of the click that decided it. */
  decidedVia?: string | undefined;
}

export interface Approvals {
  /** Stores a new request; does nothing if one with this id exists (a retried job). */
  create(request: ApprovalRequest): Promise<void>;
  /** Records the message that shows the request; the approved action continues in it. */
  attachMessage(id: string, messageTs: string): Promise<void>;
  get(id: string): Promise<ApprovalRequest | undefined>;
  /**
   * Atomically moves a pending request to `status`. Answers the request as it was before, or
   * undefined when it is unknown; a request that was not pending is returned unchanged.
   * `then`, given with an approval, is the job to run: it is kept in an outbox in the same atomic
   * step, so that a decision and the job it starts are never separated by a crash.
   */
  decide(
    id: string,
    status: Exclude<ApprovalStatus, 'pending'>,
    by?: { id: string; name?: string | undefined },
    options?: {
      /** The job an approval starts, kept in an outbox in the same atomic step. */
      startJob?: CommandJobInput | undefined;
      /** The delivery (click) that decides it, so a redelivery of that click gets the same answer. */
      deliveryId?: string | undefined;
    },
  ): Promise<{ previous: ApprovalRequest; won: boolean } | undefined>;
  /** Approved jobs not yet confirmed as queued: the outbox, drained after every decision and on a timer. */
  outbox(): Promise<{ approvalId: string; job: CommandJobInput }[]>;
  /** The approved job is queued; it leaves the outbox. */
  settle(approvalId: string): Promise<void>;
}

export type LockResult =
  | {
      acquired: true;
      release(): Promise<void>;
      /** True once renewal found the lock taken by another holder (it had expired): mutual exclusion was lost. */
      lost(): boolean;
    }
  | { acquired: false; heldBy: string };

/** Mutual exclusion across every process sharing Redis: one action per target at a time. */
export interface Locks {
  /** Re-entrant for the same holder id, so a recovered job can take back its own lock. */
  acquire(key: string, holderId: string, description: string): Promise<LockResult>;
}

export type RateDecision =
  | { allowed: true }
  | { allowed: false; limit: number; perMs: number; retryAfterMs: number };

/** A per-user request limit on the ack path, shared by every replica. */
export interface RateLimiter {
  /** Counts one request; refusals are summarised in one audit record per person and window. */
  take(person: { id: string; name?: string | undefined }, now: number): Promise<RateDecision>;
}

/** What opsbot knows about an incident channel: its record on GitHub and the alert's labels. */
export interface IncidentContext {
  repo: string;
  issue: number;
  labels: Record<string, string>;
  /** Defaults for commands typed in the channel, from the labels. */
  environment?: string | undefined;
  deployment?: string | undefined;
}

export interface IncidentDirectory {
  /** The incident a channel belongs to, or undefined for an ordinary channel. */
  lookup(channelId: string): Promise<IncidentContext | undefined>;
}

/** What the incident commands need: open one by hand, resolve the one a channel belongs to. */
export interface IncidentCommands {
  /** Idempotent by `key`; answers once the channel exists, or without it after a short wait. */
  declare(input: {
    title: string;
    severity: string;
    environment: string;
    by: string;
    key: string;
  }): Promise<{ id: string; channelId?: string | undefined; channelName?: string | undefined }>;
  /** Throws StateError not_found outside an incident channel. */
  resolve(
    channelId: string,
    by: string,
    note: string | undefined,
  ): Promise<{ id: string; alreadyResolved: boolean }>;
  /** Opens or updates the postmortem pull request of a channel's incident; throws StateError not_found outside one. */
  postmortem(channelId: string): Promise<{ id: string; url: string; number: number }>;
}

/**
 * What incidents need from chat: channels of their own, and messages in them. Failures are
 * ExternalServiceError; one that is not `retryable` was refused and will be refused again.
 */
export interface IncidentChat {
  /** Creates a public channel; `taken` when the name is in use (by anyone, archived included). */
  createChannel(name: string): Promise<{ id: string } | { taken: true }>;
  /** The id of the channel called `name` if this bot created it at or after `since` (ms). */
  findOwnChannel(name: string, since: number): Promise<string | undefined>;
  /** Sets the topic, cut to what the chat service accepts. */
  setTopic(channel: string, topic: string): Promise<void>;
  /** The members of the user groups with these handles (without "@"). */
  usersOfGroups(handles: readonly string[]): Promise<string[]>;
  /** Invites people; those already in the channel are no error. */
  invite(channel: string, users: readonly string[]): Promise<void>;
  /** Archives the channel; one already archived is no error. */
  archive(channel: string): Promise<void>;
  /** Unarchives the channel; one not archived is no error. */
  unarchive(channel: string): Promise<void>;
  post(channel: string, message: Message): Promise<{ ts: string }>;
  /** A message as plain text only: for when its rich form was refused. */
  postText(channel: string, text: string): Promise<{ ts: string }>;
  update(channel: string, ts: string, message: Message): Promise<void>;
}

/** Where incidents are recorded as issues, with comments (GitHub). Failures are ExternalServiceError. */
export interface IssueTracker {
  /** The number of an issue in `repo` labelled `label` (open or closed) whose body holds `marker`. */
  findIssue(repo: string, label: string, marker: string): Promise<number | undefined>;
  createIssue(repo: string, issue: { title: string; body: string; labels: string[] }): Promise<number>;
  updateIssue(
    repo: string,
    number: number,
    issue: { body: string; labels: string[]; state: 'open' | 'closed' },
  ): Promise<void>;
  comment(repo: string, number: number, body: string): Promise<void>;
  /** Whether a comment on the issue holds `marker`. */
  hasComment(repo: string, number: number, marker: string): Promise<boolean>;
}

/** One postmortem draft: a markdown file committed on its own branch, proposed as a pull request. */
export interface PostmortemDraft {
  branch: string;
  path: string;
  content: string;
  /** The commit message. */
  message: string;
  title: string;
  body: string;
}

/** Where postmortem drafts are proposed (GitHub pull requests). Failures are ExternalServiceError. */
export interface PostmortemDrafts {
  /** Commits the draft on `branch` (made from the default branch) and opens its pull request, or updates the open one. */
  publish(repo: string, draft: PostmortemDraft): Promise<{ number: number; url: string }>;
}

/** A namespace as previews see it: its name, labels, annotations, and whether it is being deleted. */
export interface NamespaceView {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  terminating: boolean;
}

/** Namespaces and the generic objects applied into them, for preview environments. */
export interface Workspaces {
  listNamespaces(context: string | undefined, labelSelector: string): Promise<NamespaceView[]>;
  getNamespace(context: string | undefined, name: string): Promise<NamespaceView | undefined>;
  /** Creates the namespace, or merges these labels and annotations into the one there. */
  upsertNamespace(
    context: string | undefined,
    name: string,
    meta: { labels: Record<string, string>; annotations: Record<string, string> },
  ): Promise<{ created: boolean }>;
  /** Merges labels and annotations; a null value removes the key. */
  patchNamespace(
    context: string | undefined,
    name: string,
    meta: { labels?: Record<string, string | null>; annotations?: Record<string, string | null> },
  ): Promise<void>;
  /** Answers false when there was nothing to delete. */
  deleteNamespace(context: string | undefined, name: string): Promise<boolean>;
  /** Server-side apply of each object, as field manager "opsbot". */
  apply(context: string | undefined, objects: readonly Record<string, unknown>[]): Promise<void>;
}

/** The pull requests a preview can be opened from. */
export interface PullRequests {
  head(repo: string, number: number): Promise<{ sha: string; ref: string; state: string }>;
  comment(repo: string, number: number, body: string): Promise<void>;
}

/**
 * Executed changes by record id, with what undoes them; shared by every replica and kept for
 * months, so `/ops undo <record-id>` works after restarts and on any replica.
 */
export interface Ledger {
  /**
   * Stores the entry under its record id and indexes it under each target it touched. Answers
   * false, storing nothing, when the id already belongs to another job; the same job's entry is kept as first written.
   */
  save(entry: LedgerEntry): Promise<boolean>;
  get(recordId: string): Promise<LedgerEntry | undefined>;
  /** The newest entries that touched `<env>/<target>`, newest first. */
  recent(key: string, limit: number): Promise<LedgerEntry[]>;
}

/** The latest audit records, newest first: what the App Home tab lists. Shared by every replica. */
export interface RecentActions {
  /** Called once a record is written; a record written twice (a retry) is listed once. */
  add(record: AuditRecord): Promise<void>;
  /** At most `limit` records that `keep` accepts, newest first. */
  latest(limit: number, keep: (record: AuditRecord) => boolean): Promise<AuditRecord[]>;
  /** Remembers who has opened the Home tab, so it is refreshed after their actions. */
  addHomeViewer(userId: string): Promise<void>;
  isHomeViewer(userId: string): Promise<boolean>;
}
