import { Redis } from 'ioredis';

/** BullMQ workers need maxRetriesPerRequest: null so blocking commands survive reconnects. */
export function createRedis(url: string, purpose: 'queue' | 'worker' | 'lock'): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: purpose === 'worker' ? null : 3,
    enableOfflineQueue: true,
    connectionName: `opsbot-${purpose}`,
    lazyConnect: false,
  });
}
