import { throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type Env, hasGitHubCredentials } from '../config/env.js';
import { createRedis, keyPrefix } from '../queue/connection.js';
import { createInstallationAuth } from './installation-auth.js';

const ThrottledOctokit = Octokit.plugin(throttling);

/**
 * Octokit's log calls (strings) as pino lines, so they are JSON like the rest. Its request-log
 * plugin writes one info line per request and one error line per failed one, most of which we
 * handle (a 404 probe, the 422 of a file already written): those go to debug and warn.
 */
export function octokitLogger(log: Logger) {
  const line = (write: (fields: object, msg: string) => void) => (message: unknown) =>
    write({ octokit: String(message) }, 'octokit');
  return {
    debug: line(log.debug.bind(log)),
    info: line(log.debug.bind(log)),
    warn: line(log.warn.bind(log)),
    error: line(log.warn.bind(log)),
  };
}

/**
 * GitHub's pacing (docs.github.com, "Best practices for using the REST API": mutating requests
 * a second apart), kept by @octokit/plugin-throttling. With Redis its Bottleneck limiters live
 * there, so every replica shares one pace. A rate limit is never retried here: the plugin hands
 * the error back (the handlers answer false) and the queue retries the job after Retry-After.
 */
function throttleOptions(env: Env, log: Logger, sharedInRedis: boolean) {
  const connection = sharedInRedis
    ? new Bottleneck.IORedisConnection({ client: createRedis(env, 'queue', log), Redis })
    : undefined;
  connection?.on('error', (err: unknown) => log.warn({ err }, 'GitHub pacing: Redis error'));
  const gapMs = env.OPSBOT_GITHUB_WRITE_GAP_MS;
  const common = { timeout: 2 * 60_000, ...(connection ? { connection } : {}) };
  const refuse = (kind: string) => (retryAfter: number, options: { method: string; url: string }) => {
    log.warn({ retryAfter, method: options.method, url: options.url }, `GitHub ${kind}; the queue retries`);
    return false;
  };
  return {
    Bottleneck,
    // The limiters' Redis keys carry the key prefix: its hash tag keeps them in one Cluster slot.
    id: keyPrefix(env, env.OPSBOT_QUEUE_PREFIX),
    ...common,
    // Paced, not capped: a cap's count of running writes is lost with a Redis failover and would
    // block writes until Bottleneck expires it (a minute); a pace needs no count.
    write: new Bottleneck.Group({ id: 'octokit-write', maxConcurrent: null, minTime: gapMs, ...common }),
    // Writes that notify people (issues, comments) are paced three times wider, as the plugin does.
    notifications: new Bottleneck.Group({
      id: 'octokit-notifications',
      maxConcurrent: null,
      minTime: 3 * gapMs,
      ...common,
    }),
    onRateLimit: refuse('rate limit'),
    onSecondaryRateLimit: refuse('secondary rate limit'),
  };
}

/**
 * An Octokit for GITHUB_API_URL, authenticated by token or as a GitHub App installation.
 * `sharedPacing`: keep the write pace in Redis, shared by every replica.
 */
export function createOctokit(env: Env, log: Logger, sharedPacing = false): Octokit | undefined {
  if (!hasGitHubCredentials(env)) return undefined;
  const octokitLog = log.child({ component: 'octokit' });
  const common = {
    baseUrl: env.GITHUB_API_URL.replace(/\/+$/, ''),
    userAgent: 'opsbot',
    request: { retries: 0 },
    log: octokitLogger(octokitLog),
    throttle: throttleOptions(env, octokitLog, sharedPacing),
  };
  if (env.GITHUB_APP_ID && env.GITHUB_APP_PRIVATE_KEY && env.GITHUB_APP_INSTALLATION_ID) {
    return new ThrottledOctokit({
      ...common,
      authStrategy: createInstallationAuth,
      auth: {
        appId: env.GITHUB_APP_ID,
        privateKey: env.GITHUB_APP_PRIVATE_KEY.replace(/\\n/g, '\n'),
        installationId: env.GITHUB_APP_INSTALLATION_ID,
      },
    });
  }
  if (env.GITHUB_TOKEN) return new ThrottledOctokit({ ...common, auth: env.GITHUB_TOKEN });
  return undefined;
}
