import type { AddressInfo } from 'node:net';
import { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { commands } from '../commands/index.js';
import { type Env, readEnv } from './config/env.js';
import { loadConfig } from './config/load.js';
import type { OpsbotConfig } from './config/schema.js';
import { ConfigError } from './core/errors.js';
import { acceptCommand } from './engine/accept-command.js';
import { decideApproval, expireApproval } from './engine/decide-approval.js';
import { runCommand } from './engine/run-command.js';
import { GitHubAuditLog } from './github/audit-log.js';
import { createOctokit } from './github/client.js';
import { createHttpServer } from './http/server.js';
import { KubeCluster } from './kubernetes/cluster.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';
import type { Clock } from './ports.js';
import { newApprovalId, RedisApprovals } from './queue/approvals.js';
import { createRedis } from './queue/connection.js';
import { RedisLocks } from './queue/locks.js';
import { BullJobs, startWorkers } from './queue/queues.js';
import { createSlackApp } from './slack/app.js';
import { boltLogger } from './slack/bolt-logger.js';
import { SlackChat } from './slack/chat.js';

export type Mode = 'all' | 'worker';

export interface RunningBot {
  port: number;
  log: Logger;
  /** Stop taking work, let running jobs finish (or hand them back after `graceMs`), then close. */
  close(graceMs?: number): Promise<void>;
}

const systemClock: Clock = { now: () => Date.now() };

function requireSlack(env: Env): Env & { SLACK_BOT_TOKEN: string } {
  if (!env.SLACK_BOT_TOKEN) throw new ConfigError('environment variable SLACK_BOT_TOKEN: is required');
  return env as Env & { SLACK_BOT_TOKEN: string };
}

/** Builds every adapter from env and opsbot.yml and starts the receivers and workers. */
export async function startBot(mode: Mode, source: NodeJS.ProcessEnv = process.env): Promise<RunningBot> {
  const env = readEnv(source);
  const log = createLogger(env.LOG_LEVEL);
  const config: OpsbotConfig = loadConfig(env.OPSBOT_CONFIG);
  const slackEnv = requireSlack(env);
  const octokit = createOctokit(env);
  if (!octokit)
    throw new ConfigError(
      'environment variable GITHUB_TOKEN: is required (or a GitHub App: GITHUB_APP_ID, …)',
    );

  const metrics = createMetrics();
  const redis = createRedis(env.REDIS_URL, 'queue');
  const workerRedis = createRedis(env.REDIS_URL, 'worker');
  const prefix = env.OPSBOT_QUEUE_PREFIX;
  const jobs = new BullJobs(redis, prefix);
  const slackClient = new WebClient(slackEnv.SLACK_BOT_TOKEN, {
    slackApiUrl: env.SLACK_API_URL,
    logger: boltLogger(log.child({ component: 'slack-web-api' })),
  });
  const chat = new SlackChat(slackClient, log.child({ component: 'slack' }));
  const cluster = KubeCluster.fromDefault();
  const auditLog = new GitHubAuditLog(octokit, config.audit);

  const approvals = new RedisApprovals(redis, prefix);
  const runDeps = {
    config,
    cluster,
    chat,
    clock: systemClock,
    jobs,
    locks: new RedisLocks(redis, prefix),
    approvals,
    commands,
    log,
    newApprovalId,
  };
  const approvalDeps = { config, approvals, jobs, chat, directory: chat, clock: systemClock };
  const workers = startWorkers({
    connection: workerRedis,
    prefix,
    log,
    auditLog,
    runCommand: (attempt) => runCommand(runDeps, attempt),
    expireApproval: (id) => expireApproval(approvalDeps, id),
  });
  workers.commands.on('failed', () => metrics.queueFailures.inc({ queue: 'commands' }));
  workers.audit.on('failed', () => metrics.queueFailures.inc({ queue: 'audit' }));

  const slack =
    mode === 'all'
      ? createSlackApp({
          env: slackEnv,
          log,
          accept: async (request) => {
            const ack = await acceptCommand(
              { config, jobs, directory: chat, clock: systemClock, commands },
              request,
            );
            metrics.commands.inc({ verb: request.text.trim().split(/\s+/)[0] || 'help', outcome: ack.kind });
            return ack;
          },
          decide: (click) => decideApproval(approvalDeps, click),
        })
      : undefined;
  if (slack) void chat.refreshGroups();

  const server = createHttpServer({
    log,
    metrics,
    slack: slack?.listener,
    readiness: [
      { name: 'redis', check: async () => void (await redis.ping()) },
      { name: 'slack', check: () => chat.ping() },
      { name: 'kubernetes', check: () => cluster.ping() },
      { name: 'github', check: () => auditLog.ping() },
    ],
    beforeMetrics: async () => {
      for (const [name, queue] of Object.entries({ commands: jobs.commands, audit: jobs.audit })) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
        for (const [state, n] of Object.entries(counts)) metrics.queueDepth.set({ queue: name, state }, n);
      }
    },
  });
  await new Promise<void>((resolve) => server.listen(env.PORT, env.HOST, resolve));
  await slack?.start();
  const port = (server.address() as AddressInfo).port;
  log.info({ port, mode, slackMode: slack?.mode, prefix }, 'opsbot started');

  return {
    port,
    log,
    async close(graceMs = 25_000) {
      log.info('shutting down: no new work is taken');
      server.close();
      server.closeIdleConnections();
      await slack?.stop();
      // Running jobs finish; past the grace period they are handed back to the queue for another worker.
      const drained = workers.close().then(() => true);
      const inTime = await Promise.race([
        drained,
        new Promise<false>((r) => setTimeout(() => r(false), graceMs).unref()),
      ]);
      if (!inTime) {
        log.warn('jobs still running after the grace period; handing them back');
        await workers.close(true);
      }
      await jobs.close();
      await Promise.all([redis.quit(), workerRedis.quit()]);
      server.closeAllConnections();
      log.info('opsbot stopped');
    },
  };
}
