import { Redis } from 'ioredis';
import type { Logger } from 'pino';

const ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * A Redis connection for queues, workers or locks. BullMQ workers need maxRetriesPerRequest: null
 * so blocking commands survive reconnects. Connection errors are logged at most every 10 s.
 */
export function createRedis(url: string, purpose: 'queue' | 'worker', log: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: purpose === 'worker' ? null : 3,
    connectionName: `opsbot-${purpose}`,
  });
  let lastLogged = 0;
  redis.on('error', (err: Error) => {
    if (Date.now() - lastLogged < ERROR_LOG_INTERVAL_MS) return;
    lastLogged = Date.now();
    log.error({ err, purpose }, 'Redis connection error; retrying');
  });
  return redis;
}
