import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { Env } from '../config/env.js';

const ERROR_LOG_INTERVAL_MS = 10_000;
const REOPEN_DELAY_MS = 1_000;

/** A plain Redis (standalone or through Sentinel) or a Redis Cluster: the queue state works on both. */
export type RedisClient = Redis | Cluster;

/** The settings that say how to reach Redis, as validated by src/config/env.ts. */
export type RedisSettings = Pick<Env, 'REDIS_URL'> &
  Partial<
    Pick<
      Env,
      | 'REDIS_SENTINELS'
      | 'REDIS_SENTINEL_NAME'
      | 'REDIS_CLUSTER_NODES'
      | 'REDIS_USERNAME'
      | 'REDIS_PASSWORD'
      | 'REDIS_SENTINEL_PASSWORD'
      | 'REDIS_TLS'
    >
  >;

export type RedisTopology = 'standalone' | 'sentinel' | 'cluster';

export function redisTopology(settings: RedisSettings): RedisTopology {
  if (settings.REDIS_CLUSTER_NODES) return 'cluster';
  if (settings.REDIS_SENTINELS) return 'sentinel';
  return 'standalone';
}

/** True when the environment names a Redis (a URL, sentinels or cluster nodes), rather than the default. */
export function redisConfigured(settings: RedisSettings, source: NodeJS.ProcessEnv): boolean {
  return Boolean(source.REDIS_URL) || redisTopology(settings) !== 'standalone';
}

/**
 * The prefix of every key opsbot and BullMQ write. On a Cluster it is a hash tag, `{opsbot}`, so
 * every key lands in one slot: BullMQ's scripts and ours touch several keys at once, and a Cluster
 * refuses that across slots (CROSSSLOT). See BullMQ's guide, "Redis Cluster".
 */
export function keyPrefix(settings: RedisSettings, prefix: string): string {
  return redisTopology(settings) === 'cluster' ? `{${prefix}}` : prefix;
}

/**
 * A Redis connection for queues, workers or locks. BullMQ workers need maxRetriesPerRequest: null
 * so blocking commands survive reconnects. Connection errors are logged at most every 10 s.
 * A string is a redis:// URL; settings may name Sentinel or Cluster instead.
 */
export function createRedis(
  target: string | RedisSettings,
  purpose: 'queue' | 'worker' | 'subscriber',
  log: Logger,
): RedisClient {
  const settings: RedisSettings = typeof target === 'string' ? { REDIS_URL: target } : target;
  const common: RedisOptions = {
    maxRetriesPerRequest: purpose === 'queue' ? 3 : null,
    connectionName: `opsbot-${purpose}`,
  };
  const auth: RedisOptions = {
    ...(settings.REDIS_USERNAME ? { username: settings.REDIS_USERNAME } : {}),
    ...(settings.REDIS_PASSWORD ? { password: settings.REDIS_PASSWORD } : {}),
    ...(settings.REDIS_TLS ? { tls: {} } : {}),
  };
  let redis: RedisClient;
  if (settings.REDIS_CLUSTER_NODES) {
    redis = new Cluster(settings.REDIS_CLUSTER_NODES, {
      redisOptions: { ...common, ...auth },
    });
  } else if (settings.REDIS_SENTINELS && settings.REDIS_SENTINEL_NAME) {
    redis = new Redis({
      ...common,
      ...auth,
      sentinels: settings.REDIS_SENTINELS,
      name: settings.REDIS_SENTINEL_NAME,
      ...(settings.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: settings.REDIS_SENTINEL_PASSWORD } : {}),
      // Told of a failover by the sentinels (+switch-master), not only when the old master's socket dies.
      failoverDetector: true,
    });
  } else {
    // No auto-pipelining: ioredis builds a Pipeline for each turn of the event loop, and each one
    // copies every script BullMQ defines on the connection; that cost more than the writes it saved.
    redis = new Redis(settings.REDIS_URL, common);
  }
  let lastLogged = 0;
  redis.on('error', (err: Error) => {
    if (Date.now() - lastLogged < ERROR_LOG_INTERVAL_MS) return;
    lastLogged = Date.now();
    log.error({ err, purpose }, 'Redis connection error; retrying');
  });
  reopenWhenEndedByItself(redis, purpose, log);
  return redis;
}

/**
 * A client that ends without being asked to (its status "end": every command answers "Connection
 * is closed." and it never reconnects) is opened again. Seen once behind Sentinel after a failover
 * under load, on a connection nobody had closed; ioredis#1683 reports the same. Only quit() and
 * disconnect() called on this client count as asked.
 */
function reopenWhenEndedByItself(redis: RedisClient, purpose: string, log: Logger): void {
  let asked = false;
  const quit = redis.quit.bind(redis);
  const disconnect = redis.disconnect.bind(redis);
  redis.quit = ((...args: Parameters<typeof quit>) => {
    asked = true;
    return quit(...args);
  }) as typeof redis.quit;
  redis.disconnect = ((reconnect?: boolean) => {
    if (!reconnect) asked = true;
    return disconnect(reconnect);
  }) as typeof redis.disconnect;
  // Opened again on purpose (BullMQ reconnects a connection it disconnected): watch it again.
  redis.on('ready', () => {
    asked = false;
  });
  redis.on('end', () => {
    if (asked) return;
    log.error({ purpose }, 'Redis connection closed by itself; opening it again');
    setTimeout(() => {
      if (!asked && redis.status === 'end') redis.connect().catch(() => undefined);
    }, REOPEN_DELAY_MS).unref();
  });
}
