import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { WebClient } from '@slack/web-api';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { incidentsFeature } from './alerts/feature.js';
import { type Env, hasGitHubCredentials, readEnv, redactEnv } from './config/env.js';
import { loadConfig } from './config/load.js';
import type { OpsbotConfig } from './config/schema.js';
import { ConfigError, ExternalServiceError } from './core/errors.js';
import { type Ack, acceptCommand, type CommandRequest } from './engine/accept-command.js';
import { bindCommand, type CommandModule } from './engine/command-module.js';
import {
  APPROVAL_OUTBOX_QUEUE,
  approvalButtons,
  auditForgedClick,
  decideApproval,
  drainApprovalOutbox,
  expireApproval,
} from './engine/decide-approval.js';
import { resolveTarget, runCommand } from './engine/run-command.js';
import { armFailpoints } from './failpoints.js';
import { features, knownActions, registeredCommands } from './features.js';
import { GitHubAuditLog } from './github/audit-log.js';
import { createHttpServer, type ReadinessCheck, runChecks } from './http/server.js';
import type { KubeCluster } from './kubernetes/cluster.js';
import { hasKubeContext } from './kubernetes/kube-context.js';
import { LazyCluster } from './kubernetes/lazy-cluster.js';
import { LocalGitAuditLog } from './local/git-audit-log.js';
import { GitHubStandIn } from './local/github-stand-in.js';
import { localConfig, TEAMMATE } from './local/local-config.js';
import { runShell, ShellChat } from './local/shell.js';
import { SlackStandIn } from './local/slack-stand-in.js';
import { createLogger } from './logger.js';
import { createMetrics, PROCESS_METRIC_PREFIX } from './metrics.js';
import type {
  Approvals,
  AuditLog,
  Chat,
  Clock,
  Cluster,
  Directory,
  IncidentDirectory,
  Ledger,
  Locks,
  RecentActions,
} from './ports.js';
import { newApprovalId, RedisApprovals } from './queue/approvals.js';
import { AuditHold } from './queue/audit-hold.js';
import type { QueueBackend } from './queue/backend.js';
import { BullBackend } from './queue/bull-backend.js';
import { createRedis, keyPrefix, redisConfigured } from './queue/connection.js';
import { MemoryLedger, RedisLedger } from './queue/ledger.js';
import { RedisLocks } from './queue/locks.js';
import { MemoryBackend } from './queue/memory-backend.js';
import { MemoryApprovals, MemoryLocks } from './queue/memory-state.js';
import { createJobs, processCoreQueues } from './queue/queues.js';
import {
  createRateLimiter,
  MemoryRateCounter,
  type RateCounter,
  RedisRateCounter,
} from './queue/rate-limit.js';
import { MemoryRecentActions, RedisRecentActions } from './queue/recent-actions.js';
import { loadRunbooks, runbooksDir } from './runbooks/load.js';
import { stepKinds } from './runbooks/steps/index.js';
import type { Feature, FeatureHandle, Runtime } from './runtime.js';
import { boltLogger } from './slack/bolt-logger.js';
import { SlackChat } from './slack/chat.js';
import { createHomeTab, type HomeTab } from './slack/home.js';
import { collectStartupGarbage } from './startup-memory.js';
import { isSupervised, reportToSupervisor, type SupervisedWorker, superviseWorker } from './supervisor.js';

/**
 * start: what `opsbot start` runs: with Redis, the main thread answers and a supervised worker thread
 * runs the jobs (OPSBOT_PROCESSES=one keeps both on one thread); all: both on this thread;
 * web: answers only, for a web Deployment; worker: runs jobs only, for a worker Deployment.
 */
export type Mode = 'start' | 'all' | 'web' | 'worker';

export interface StartOptions {
  mode: Mode;
  env?: NodeJS.ProcessEnv;
  /** Local shell mode: act as this user. */
  as?: string | undefined;
  input?: NodeJS.ReadableStream;
  output?: Writable;
}

export interface RunningBot {
  port: number;
  log: Logger;
  runtime: Runtime;
  /** Resolves when a shell session ends (local mode); never otherwise. */
  finished: Promise<void>;
  /** Stop taking work, let running jobs finish (or hand them back after `graceMs`), then close. */
  close(graceMs?: number): Promise<void>;
}

const systemClock: Clock = { now: () => Date.now() };
const LOCAL_DIR = '.opsbot';
const APPROVAL_OUTBOX_INTERVAL_MS = 5_000;

async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 500,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/**
 * Redis when REDIS_URL is set or the default answers; an in-process queue otherwise, with a
 * warning. OPSBOT_QUEUE=redis|memory decides explicitly.
 */
async function useRedisQueue(env: Env, source: NodeJS.ProcessEnv): Promise<boolean> {
  return (
    env.OPSBOT_QUEUE === 'redis' ||
    (env.OPSBOT_QUEUE === 'auto' && (redisConfigured(env, source) || (await redisAnswers(env.REDIS_URL))))
  );
}

function createQueueState(env: Env, useRedis: boolean, runsWorkers: boolean, log: Logger) {
  if (useRedis) {
    // The ack path's connection: producers, locks, approvals, rate limits; nothing on it blocks.
    const redis = createRedis(env, 'queue', log);
    const workerRedis = createRedis(env, 'worker', log);
    const prefix = keyPrefix(env, env.OPSBOT_QUEUE_PREFIX);
    return {
      backend: new BullBackend(
        redis,
        workerRedis,
        prefix,
        log,
        env.OPSBOT_JOB_LOCK_MS,
        runsWorkers,
      ) as QueueBackend,
      locks: new RedisLocks(redis, prefix, log.child({ component: 'locks' })) as Locks,
      approvals: new RedisApprovals(redis, prefix) as Approvals,
      ledger: new RedisLedger(redis, prefix) as Ledger,
      rateCounter: new RedisRateCounter(redis, prefix) as RateCounter,
      recent: new RedisRecentActions(redis, prefix) as RecentActions,
      close: async () => {
        await Promise.all([redis.quit(), workerRedis.quit()]);
      },
    };
  }
  return {
    backend: new MemoryBackend(log) as QueueBackend,
    locks: new MemoryLocks() as Locks,
    approvals: new MemoryApprovals() as Approvals,
    ledger: new MemoryLedger() as Ledger,
    rateCounter: new MemoryRateCounter() as RateCounter,
    recent: new MemoryRecentActions() as RecentActions,
    close: async () => {},
  };
}

/** Builds every adapter from env and opsbot.yml, then starts workers, features and receivers. */
export async function startBot(options: StartOptions): Promise<RunningBot> {
  const source = options.env ?? process.env;
  const shell = !source.SLACK_BOT_TOKEN;
  const env = localWebhookAccess(readEnv(source), source, shell);
  armFailpoints(env.OPSBOT_FAILPOINTS);
  const output = options.output ?? process.stdout;
  if (shell) mkdirSync(LOCAL_DIR, { recursive: true });
  // In the terminal the chat owns the screen, so logs go to a file there.
  const log = shell
    ? createLogger(env.LOG_LEVEL, pino.destination(join(LOCAL_DIR, 'opsbot.log')))
    : createLogger(env.LOG_LEVEL);
  const user = { id: options.as ?? source.OPSBOT_USER ?? 'ULOCAL', name: source.OPSBOT_USER_NAME ?? 'you' };
  const useBuiltInConfig = shell && !source.OPSBOT_CONFIG && !existsSync(env.OPSBOT_CONFIG);
  const config: OpsbotConfig = useBuiltInConfig
    ? localConfig(user.id)
    : loadConfig(env.OPSBOT_CONFIG, knownActions());
  // Checked with the config: a bad runbook stops the bot here, with the message `opsbot validate` prints.
  const configFile = useBuiltInConfig ? undefined : env.OPSBOT_CONFIG;
  const runbooks = loadRunbooks(runbooksDir(config, configFile), config, stepKinds(registeredCommands()));
  // The effective settings help an operator; every secret and URL password in them is replaced.
  log.info(
    {
      env: redactEnv(env),
      environments: Object.keys(config.environments),
      roles: Object.keys(config.roles),
      shell,
    },
    'configuration loaded',
  );
  const metrics = createMetrics();
  const notes: string[] = [];
  const closers: (() => Promise<void>)[] = [];

  const useRedis = await useRedisQueue(env, source);
  const mode = effectiveMode(options.mode, { shell, useRedis, processes: env.OPSBOT_PROCESSES });
  if ((mode === 'web' || mode === 'worker') && !useRedis) {
    throw new ConfigError(
      `opsbot ${mode} shares its queue with the other processes through Redis, and no Redis answered (REDIS_URL)`,
    );
  }
  // Every line says which process wrote it: web, worker, or all (both in one).
  log.setBindings({ process: mode });
  const queueState = createQueueState(env, useRedis, mode !== 'web', log);
  if (queueState.backend.kind === 'memory') {
    const warning =
      'No Redis answered: using an in-process queue. Nothing survives a restart; production needs Redis (REDIS_URL).';
    log.warn(warning);
    notes.push(`⚠️  ${warning}`);
  }

  let cluster: Cluster;
  /** The client-node cluster, once loaded in a process that runs jobs. */
  let kube: KubeCluster | undefined;
  let warmCluster: (() => void) | undefined;
  let kubeconfig: () => Promise<KubeConfig>;
  const sandbox = !hasKubeContext(source);
  if (sandbox) {
    const started = await (await import('./local/sandbox.js')).startSandbox(config);
    cluster = started.cluster;
    kube = started.cluster;
    kubeconfig = async () => started.cluster.kubeconfig;
    closers.push(() => started.api.close());
    notes.push(
      '🧪 No kube context found: running against the built-in SANDBOX cluster (sample app: api, worker, web).',
    );
  } else {
    const lazy = new LazyCluster();
    // Workers load the client now, so no action waits for it; a web process loads it only if a form asks.
    if (mode !== 'web') kube = await lazy.load();
    cluster = lazy;
    // Loading takes about 0.4 s idle and seconds on a busy node: more than Slack waits for a list.
    warmCluster = () =>
      void lazy.load().catch((err: unknown) => log.warn({ err }, 'could not load the Kubernetes client'));
    kubeconfig = () => lazy.kubeconfig();
  }

  if (kube && mode !== 'web') {
    // Plans read Deployments and ReplicaSets from watches, not requests; environments that
    // impersonate the requester are read as that person, so they are not watched.
    const watched = Object.entries(config.environments)
      .filter(([, e]) => !e.impersonate)
      .map(([name]) => resolveTarget(config, name));
    void kube.watchNamespaces(watched, {
      failed: (what, err) =>
        log.warn({ err, ...what }, 'watch cache out of sync; plans read the API server until it is back'),
      synced: (what) => log.info(what, 'watch cache in sync'),
    });
    const watching = kube;
    // First of the closers: before the sandbox's API server goes, so no watch retries at shutdown.
    closers.unshift(() => watching.close());
  }

  let auditLog: AuditLog & { ping(): Promise<void> };
  const github = hasGitHubCredentials(env);
  // The web process never calls GitHub, so it never loads Octokit, its pacing or the pacing's Redis
  // connection: the worker writes every record, and its readiness check answers for GitHub.
  const octokit =
    github && mode !== 'web'
      ? (await import('./github/client.js')).createOctokit(env, log, queueState.backend.kind === 'redis')
      : undefined;
  if (octokit) {
    auditLog = new GitHubAuditLog(octokit, config.audit);
  } else if (github) {
    auditLog = {
      // Never called: a web process runs no jobs (its queue backend starts no workers).
      write: () => Promise.reject(new Error('audit records are written by the worker')),
      ping: async () => undefined,
    };
  } else {
    const local = new LocalGitAuditLog(join(LOCAL_DIR, 'audit'), config.audit);
    await local.init();
    auditLog = local;
    notes.push(
      `📝 No GitHub token: audit records are committed to ${local.directory} (try: git -C ${local.directory} log).`,
    );
  }

  let chat: Chat & Directory & { ping(): Promise<void> };
  let shellChat: ShellChat | undefined;
  let slackChat: SlackChat | undefined;
  let slackClient: WebClient | undefined;
  // What incidents talk to: Slack and GitHub, or in the shell their local stand-ins.
  let incidentSlack: WebClient | undefined;
  let incidentOctokit = octokit;
  if (shell) {
    shellChat = new ShellChat(output);
    shellChat.names.set(TEAMMATE.id, TEAMMATE.name);
    chat = shellChat;
    if (config.incidents) {
      const stand = await startIncidentStandIns(shellChat, env, log);
      closers.push(stand.close);
      incidentSlack = stand.slack;
      incidentOctokit ??= stand.octokit;
      notes.push(
        `🚨 Incidents: channels and ${github ? 'Slack messages' : 'GitHub issues'} are local stand-ins shown here. Try: /alert HighLatency deployment=api env=staging severity=critical`,
      );
    }
  } else {
    slackClient = new WebClient(env.SLACK_BOT_TOKEN, {
      slackApiUrl: env.SLACK_API_URL,
      logger: boltLogger(log.child({ component: 'slack-web-api' })),
    });
    slackChat = new SlackChat(slackClient, log.child({ component: 'slack' }), {
      groupsMaxAgeMs: env.OPSBOT_GROUPS_MAX_AGE,
    });
    chat = slackChat;
    incidentSlack = slackClient;
  }

  const { backend, locks, approvals, ledger } = queueState;
  const jobs = createJobs(backend);
  const auditHold = new AuditHold();

  // Every command as the engine runs it; filled in once the features have started.
  let registry: readonly CommandModule[] = [];
  let accept: (request: CommandRequest) => Promise<Ack> = async () => {
    throw new Error('commands are accepted only once the bot has started');
  };
  const runtime: Runtime = {
    env,
    config,
    configFile,
    log,
    metrics,
    clock: systemClock,
    backend,
    jobs,
    chat,
    directory: chat,
    cluster,
    auditLog,
    approvals,
    locks,
    slackClient: incidentSlack,
    octokit: incidentOctokit,
    kubeconfig,
    runbooks,
    local: { shell, sandbox, localAudit: !github, memoryQueue: backend.kind === 'memory' },
    workers: mode !== 'web',
    accept: (request) => accept(request),
    commands: () => registry,
  };
  // The features opsbot.yml turns on start now; the others are never loaded, and their commands say why.
  const handles = new Map<Feature, FeatureHandle>();
  for (const feature of features) {
    if (feature.enabled(config)) handles.set(feature, await feature.start(runtime));
  }
  registry = features.flatMap((feature) => {
    const handle = handles.get(feature);
    return feature.commands.map((command) =>
      bindCommand(command, handle ? { services: handle.services } : { unavailable: feature.off }),
    );
  });
  const started = [...handles.values()];

  const runDeps = {
    config,
    cluster,
    chat,
    directory: chat,
    clock: systemClock,
    jobs,
    locks,
    approvals,
    commands: registry,
    log,
    newApprovalId,
    ledger,
    observe: (command: string, outcome: string, seconds: number) =>
      metrics.actionDuration.observe({ command, outcome }, seconds),
  };
  const approvalDeps = { config, approvals, jobs, chat, directory: chat, clock: systemClock, log };
  const { recent } = queueState;
  // The App Home tab, wherever a Slack token is: a worker refreshes it after the actions it records.
  const home: HomeTab | undefined = slackClient
    ? createHomeTab({
        config,
        directory: chat,
        recent,
        clock: systemClock,
        client: slackClient,
        log: log.child({ component: 'home' }),
        sections: async (user) =>
          (await Promise.all(started.map((h) => h.home?.(user)))).filter((m) => m !== undefined),
      })
    : undefined;
  processCoreQueues(backend, {
    log,
    auditLog,
    runCommand: (attempt) => runCommand(runDeps, attempt),
    expireApproval: (id) => expireApproval(approvalDeps, id),
    onAuditWritten: async (record) => {
      auditHold.release(record.id);
      // The Home tab's list; best effort, as it is only a view of the audit trail.
      await recent.add(record).catch((err: unknown) => log.warn({ err }, 'could not list a recent action'));
      void home?.refreshAfter(record).catch((err: unknown) => log.warn({ err }, 'could not refresh Home'));
      for (const handle of started) await handle.onAuditWritten?.(record);
    },
    onAuditHeld: (record, err) => auditHold.hold(record.id, err.message, Date.now()),
  });
  // Approved jobs a crash or a queue failure left in the outbox are queued now, and then every few seconds.
  const drainOutbox = () =>
    drainApprovalOutbox(approvalDeps).then((n) => {
      if (n > 0) log.info({ queued: n }, 'queued approved jobs from the outbox');
    });
  if (mode !== 'web') {
    await drainOutbox().catch((err: unknown) => log.warn({ err }, 'could not drain the approvals outbox'));
    await backend.every(APPROVAL_OUTBOX_QUEUE, APPROVAL_OUTBOX_INTERVAL_MS, drainOutbox);
  }
  backend.onFailed((queue, error) => {
    metrics.queueFailures.inc({ queue });
    const external = externalCause(error);
    if (external)
      metrics.externalErrors.inc({
        system: external.system,
        status: /^\d{3}$/.test(String(external.status)) ? String(external.status) : 'unreachable',
      });
  });

  const limiter = createRateLimiter({
    backend,
    counter: queueState.rateCounter,
    jobs,
    log,
    count: config.rateLimit.count,
    per: config.rateLimit.per,
  });
  // What a channel means (an incident channel), from the first feature that knows it.
  const channels: IncidentDirectory = {
    async lookup(channelId) {
      for (const handle of started) {
        const context = await handle.channelContext?.(channelId);
        if (context) return context;
      }
      return undefined;
    },
  };
  accept = async (request) => {
    const ack = await acceptCommand(
      {
        config,
        jobs,
        directory: chat,
        clock: systemClock,
        commands: registry,
        incidents: channels,
        limiter,
        ledger,
      },
      request,
    );
    // Label values come from the registry, never from what was typed: a bounded set of series.
    const verb = ack.command ?? (request.text.trim() === '' ? 'help' : 'unknown');
    metrics.commands.inc({ verb, outcome: ack.kind });
    return ack;
  };
  const decide = (click: Parameters<typeof decideApproval>[1]) => decideApproval(approvalDeps, click);
  const buttons = [approvalButtons(decide), ...started.flatMap((h) => h.buttons ?? [])];

  const onRejected = (rawBody: Buffer) => {
    auditForgedClick(approvalDeps, rawBody).catch((err: unknown) =>
      log.warn({ err }, 'could not audit a forged click'),
    );
  };
  // Bolt and the modal load only in the process that answers Slack.
  const slack =
    !shell && (mode === 'all' || mode === 'web')
      ? (await import('./slack/app.js')).createSlackApp({
          env: { ...env, SLACK_BOT_TOKEN: env.SLACK_BOT_TOKEN as string },
          log,
          onRejected,
          accept,
          buttons,
          modal: (await import('./slack/ops-modal.js')).createOpsModal({
            config,
            commands: () => registry,
            cluster,
            ...(warmCluster ? { warmCluster } : {}),
            directory: chat,
            clock: systemClock,
            accept,
            log: log.child({ component: 'modal' }),
          }),
          ...(home ? { home } : {}),
        })
      : undefined;
  if (slack) void slackChat?.refreshGroups();

  const contexts = [...new Set(Object.values(config.environments).map((e) => e.context))];
  const readiness: ReadinessCheck[] = [
    { name: 'redis', check: () => backend.ping() },
    { name: 'slack', check: () => chat.ping() },
    // A web process never calls the cluster or GitHub on its own; its worker (joined below) or the
    // worker Deployment answers for them.
    ...(mode === 'web'
      ? []
      : [
          {
            name: 'kubernetes',
            check: async () => void (await Promise.all(contexts.map((c) => cluster.ping(c)))),
          },
          { name: 'github', check: () => auditLog.ping() },
        ]),
    {
      name: 'audit',
      check: async () => {
        const oldest = auditHold.oldest();
        if (!oldest) return;
        const n = auditHold.count;
        const waited = Math.round((Date.now() - oldest.since) / 1000);
        throw new Error(
          `${n} audit record${n === 1 ? '' : 's'} not written yet (waiting ${waited}s, kept queued): ${oldest.error}`,
        );
      },
    },
    ...started.flatMap((h) => h.readiness ?? []),
  ];
  let worker: SupervisedWorker | undefined;
  const refreshMetrics = async () => {
    const oldest = auditHold.oldest();
    metrics.auditHeld.set(auditHold.count);
    metrics.auditHeldSeconds.set(oldest ? (Date.now() - oldest.since) / 1000 : 0);
    for (const [queue, counts] of Object.entries(await backend.counts())) {
      for (const [state, n] of Object.entries(counts)) metrics.queueDepth.set({ queue, state }, n);
    }
  };
  let draining = false;
  const server = createHttpServer({
    draining: () => draining,
    log,
    metrics,
    slack: slack?.listener,
    readiness,
    routes: Object.assign({}, ...started.map((h) => h.routes ?? {})),
    beforeMetrics: refreshMetrics,
    // With a worker thread, the unit's figures are both threads' together.
    moreReadiness: async () => (worker ? worker.readiness() : []),
    renderMetrics: async () => {
      if (!worker) return metrics.registry.metrics();
      const theirs = await worker.metrics().catch((err: unknown) => {
        log.warn({ err }, 'the worker thread did not give its metrics');
        return [];
      });
      const own = await metrics.registry.getMetricsAsJSON();
      // The worker is a thread of this process: the process's own figures (CPU, memory, files) are
      // already in ours, and only its heap, event loop and opsbot's metrics are added.
      const threads = theirs.filter((m) => !m.name.startsWith(PROCESS_METRIC_PREFIX));
      return AggregatorRegistry.aggregate([own, threads]).metrics();
    },
  });
  await new Promise<void>((resolve) => server.listen(env.PORT, env.HOST, resolve));
  const port = (server.address() as AddressInfo).port;
  if (mode === 'web' && options.mode === 'start') {
    worker = superviseWorker({
      script: process.argv[1] ?? 'dist/src/cli.js',
      env: source,
      workerPort: env.OPSBOT_WORKER_PORT ?? (env.PORT === 0 ? 0 : env.PORT + 1),
      log,
      niceness: env.OPSBOT_WORKER_NICE,
    });
    readiness.push({ name: 'worker', check: worker.check });
    // Ready means commands will run: Slack is answered only once the worker takes jobs.
    await worker.ready;
  }
  await slack?.start();
  // V8's expose-gc flag, which the start-up collection toggles, is the whole process's: a worker
  // thread collects before it tells its supervisor, and the main thread only once it has heard.
  const supervisedWorker = mode === 'worker' && isSupervised();
  const collect = () => {
    const before = process.memoryUsage().heapUsed;
    const collected = collectStartupGarbage();
    const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;
    log.info(
      { collected, heapMb: [mb(before), mb(process.memoryUsage().heapUsed)] },
      'start-up garbage collection',
    );
  };
  if (supervisedWorker) {
    await new Promise((resolve) => setImmediate(resolve));
    collect();
  }
  if (mode === 'worker') {
    reportToSupervisor(
      port,
      {
        readiness: () => runChecks(readiness),
        metrics: async () => {
          await refreshMetrics();
          return metrics.registry.getMetricsAsJSON();
        },
      },
      { niceness: env.OPSBOT_WORKER_NICE, log },
    );
  }
  log.info(
    {
      port,
      mode,
      ...(worker ? { workerPort: worker.port() } : {}),
      slackMode: slack?.mode ?? (shell ? 'shell' : 'none'),
      queue: backend.kind,
      sandbox,
    },
    // A supervised worker says so: the unit has started only when its main thread says "opsbot started".
    supervisedWorker ? 'worker thread started' : 'opsbot started',
  );
  // After the event loop has handled what start-up queued: the heap is then at its working set.
  if (!supervisedWorker) setImmediate(collect);

  const finished = shellChat
    ? runShell({
        chat: shellChat,
        input: options.input ?? process.stdin,
        user,
        accept,
        buttons,
        banner: [
          `opsbot local shell — you are ${user.name} (${user.id}); http on ${env.HOST}:${port}`,
          ...notes,
          ...webhookNotes(env, port),
        ],
        alertWebhook: handles.has(incidentsFeature)
          ? { url: `http://127.0.0.1:${port}/webhooks/alertmanager`, token: env.OPSBOT_WEBHOOK_TOKEN }
          : undefined,
      })
    : new Promise<void>(() => {});

  return {
    port,
    log,
    runtime,
    finished,
    async close(graceMs = 25_000) {
      // Not ready from this moment, while requests already routed here are still answered.
      draining = true;
      log.info('shutting down: no new work is taken');
      await slack?.stop();
      // Running jobs finish; past the grace period they are handed back to the queue for another worker.
      const drained = Promise.all([backend.stopWorkers(), worker?.stop(graceMs)]).then(() => true);
      const inTime = await Promise.race([
        drained,
        new Promise<false>((r) => setTimeout(() => r(false), graceMs).unref()),
      ]);
      if (!inTime) {
        log.warn('jobs still running after the grace period; handing them back');
        await backend.stopWorkers(true);
      }
      // Requests that arrived while draining were queued for other replicas; now stop answering.
      server.close();
      server.closeAllConnections();
      await backend.close();
      for (const handle of started) await handle.close?.();
      await queueState.close();
      for (const close of closers) await close();
      log.info('opsbot stopped');
      log.flush?.();
    },
  };
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * The local shell without OPSBOT_WEBHOOK_TOKEN listens on loopback only, and there accepts alert
 * webhooks without a token, so /alert works out of the box. Bound elsewhere (HOST), it does not.
 */
function localWebhookAccess(env: Env, source: NodeJS.ProcessEnv, shell: boolean): Env {
  if (!shell || env.OPSBOT_WEBHOOK_TOKEN || env.OPSBOT_WEBHOOK_ALLOW_UNAUTHENTICATED) return env;
  if (source.HOST !== undefined && !LOOPBACK.has(source.HOST)) return env;
  return { ...env, HOST: source.HOST ?? '127.0.0.1', OPSBOT_WEBHOOK_ALLOW_UNAUTHENTICATED: true };
}

/** What the shell says at start-up about who may send it alerts. */
function webhookNotes(env: Env, port: number): string[] {
  const where = `http://${env.HOST}:${port}/webhooks/alertmanager`;
  if (env.OPSBOT_WEBHOOK_TOKEN)
    return [`🔐 Alert webhooks need the bearer token OPSBOT_WEBHOOK_TOKEN: ${where}`];
  if (!env.OPSBOT_WEBHOOK_ALLOW_UNAUTHENTICATED)
    return [
      `🔐 Alert webhooks are refused: ${env.HOST} is not loopback and OPSBOT_WEBHOOK_TOKEN is not set.`,
    ];
  return LOOPBACK.has(env.HOST)
    ? [`🔓 Alert webhooks accept requests WITHOUT a token, on loopback only: ${where}`]
    : [`🔓 Alert webhooks accept requests WITHOUT a token (OPSBOT_WEBHOOK_ALLOW_UNAUTHENTICATED): ${where}`];
}

/** Slack and GitHub stand-ins on loopback, whose channels, messages and issues the shell prints. */
async function startIncidentStandIns(chat: ShellChat, env: Env, log: Logger) {
  const slackStandIn = new SlackStandIn(chat);
  const githubStandIn = new GitHubStandIn((text) => chat.print(text));
  const [slackUrl, githubUrl] = await Promise.all([slackStandIn.start(), githubStandIn.start()]);
  const slack = new WebClient('xoxb-local-stand-in', {
    slackApiUrl: slackUrl,
    logger: boltLogger(log.child({ component: 'slack-stand-in' })),
  });
  const { createOctokit } = await import('./github/client.js');
  const octokit = createOctokit(
    // A stand-in on loopback has no rate limits to respect: no pacing.
    {
      ...env,
      GITHUB_TOKEN: 'local-stand-in',
      GITHUB_APP_ID: undefined,
      GITHUB_API_URL: githubUrl,
      OPSBOT_GITHUB_WRITE_GAP_MS: 0,
    },
    log,
  );
  return {
    slack,
    octokit,
    close: async () => {
      await Promise.all([slackStandIn.close(), githubStandIn.close()]);
    },
  };
}

function effectiveMode(
  asked: Mode,
  how: { shell: boolean; useRedis: boolean; processes: 'split' | 'one' },
): Exclude<Mode, 'start'> {
  if (asked !== 'start') return asked;
  // A worker thread needs a queue it can share, Redis; the local shell keeps one thread.
  return !how.shell && how.useRedis && how.processes === 'split' ? 'web' : 'all';
}

/** The Slack, GitHub, Kubernetes or Redis failure behind an error, if there is one. */
function externalCause(error: unknown): ExternalServiceError | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ExternalServiceError) return e;
  }
  return undefined;
}
