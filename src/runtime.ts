import type { RequestListener } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Octokit } from '@octokit/rest';
import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { Env } from './config/env.js';
import type { OpsbotConfig } from './config/schema.js';
import type { AuditRecord } from './core/audit.js';
import type { Message } from './core/message.js';
import type { Runbook } from './core/runbook.js';
import type { Ack, CommandRequest } from './engine/accept-command.js';
import type { ButtonRoute } from './engine/buttons.js';
import type { CommandModule } from './engine/command-module.js';
import type { ReadinessCheck } from './http/server.js';
import type { Metrics } from './metrics.js';
import type {
  Approvals,
  AuditLog,
  Chat,
  Clock,
  Cluster,
  Directory,
  IncidentContext,
  Jobs,
  Locks,
} from './ports.js';
import type { QueueBackend } from './queue/backend.js';

/** Every adapter, built once at start-up and handed to the features. */
export interface Runtime {
  env: Env;
  config: OpsbotConfig;
  /** The file opsbot.yml was read from; undefined for the built-in local config. Relative paths in it are its. */
  configFile: string | undefined;
  log: Logger;
  metrics: Metrics;
  clock: Clock;
  backend: QueueBackend;
  jobs: Jobs;
  chat: Chat;
  directory: Directory;
  cluster: Cluster;
  auditLog: AuditLog;
  approvals: Approvals;
  locks: Locks;
  /** The raw clients, for the adapters a feature builds; absent in local mode. */
  slackClient: WebClient | undefined;
  octokit: Octokit | undefined;
  /** The kubeconfig in use: the user's, in-cluster, or the sandbox's; asking for it loads the client. */
  kubeconfig(): Promise<KubeConfig>;
  /** The runbooks, loaded and checked at start-up. */
  runbooks: readonly Runbook[];
  /** Which stand-ins local mode is using, so replies and logs can say so. */
  local: { shell: boolean; sandbox: boolean; localAudit: boolean; memoryQueue: boolean };
  /** Whether this process runs workers (`start`, `worker`) or only answers (a web-only process). */
  workers: boolean;
  /** The ack path, for buttons that act as if the clicker typed a command. */
  accept(request: CommandRequest): Promise<Ack>;
  /** Every command as the engine runs it (features' services bound), once all features have started. */
  commands(): readonly CommandModule[];
}

/** What a started feature plugs into the bot. Everything but `services` is optional. */
export interface FeatureHandle<S = unknown> {
  /** Handed to the feature's commands as `ctx.services`. */
  services: S;
  /** Extra HTTP routes, keyed "METHOD /path", e.g. "POST /webhooks/alertmanager". */
  routes?: Record<string, RequestListener>;
  buttons?: ButtonRoute[];
  readiness?: ReadinessCheck[];
  /** What a channel means to this feature (an incident channel), for command defaults and policy. */
  channelContext?(channelId: string): Promise<IncidentContext | undefined>;
  /** Its part of a user's App Home tab (open incidents, their preview environments), if any. */
  home?(user: { id: string; groups: ReadonlySet<string> }): Promise<Message | undefined>;
  /** Told of every audit record written; awaited, so what it queues is as durable as the record. */
  onAuditWritten?(record: AuditRecord): Promise<void>;
  close?(): Promise<void>;
}

/**
 * A capability that plugs into the bot: its commands, and when it is configured, what it starts
 * (services, routes, buttons, queues and workers, readiness checks, audit hooks, shutdown).
 * Registered by hand, one line each, in src/features.ts. A feature that opsbot.yml does not turn
 * on is never loaded: its commands answer `off` in the ack, and its code stays unimported.
 */
export interface Feature<S = unknown> {
  name: string;
  enabled(config: OpsbotConfig): boolean;
  /** Why its commands are refused when it is off, naming the opsbot.yml section that turns it on. */
  off: string;
  commands: readonly CommandModule<unknown, S>[];
  start(runtime: Runtime): Promise<FeatureHandle<S>>;
}

/** Keeps a feature's services type between its commands and its start. */
export function defineFeature<S>(feature: Feature<S>): Feature<S> {
  return feature;
}
