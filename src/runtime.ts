import type { RequestListener } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Octokit } from '@octokit/rest';
import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { Env } from './config/env.js';
import type { OpsbotConfig } from './config/schema.js';
import type { Runbook } from './core/runbook.js';
import type { ReadinessCheck } from './http/server.js';
import type { Metrics } from './metrics.js';
import type {
  Approvals,
  AuditLog,
  Chat,
  Clock,
  Cluster,
  Directory,
  IncidentDirectory,
  Jobs,
  Locks,
} from './ports.js';
import type { QueueBackend } from './queue/backend.js';

/** Every adapter, built once at start-up and handed to the features. */
export interface Runtime {
  env: Env;
  config: OpsbotConfig;
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
  /** The raw clients, for features that need API calls the ports do not cover. */
  slackClient: WebClient | undefined;
  octokit: Octokit | undefined;
  /** The kubeconfig in use: the user's, in-cluster, or the sandbox's. */
  kubeconfig: KubeConfig;
  /** Set by the incidents feature: lets commands in incident channels default from the alert. */
  incidents?: IncidentDirectory | undefined;
  /** The runbooks loaded and checked at start-up; the incidents feature offers the matching ones. */
  runbooks?: readonly Runbook[] | undefined;
  /** Which stand-ins local mode is using, so replies and logs can say so. */
  local: { shell: boolean; sandbox: boolean; localAudit: boolean; memoryQueue: boolean };
}

export interface FeatureHandle {
  /** Extra HTTP routes, keyed "METHOD /path", e.g. "POST /webhooks/alertmanager". */
  routes?: Record<string, RequestListener>;
  readiness?: ReadinessCheck[];
  close?(): Promise<void>;
}

/** A capability that plugs into the runtime: its own queues, routes and schedulers. */
export interface Feature {
  name: string;
  start(runtime: Runtime): Promise<FeatureHandle>;
}
