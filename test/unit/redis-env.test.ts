import { describe, expect, it } from 'vitest';
import { readEnv, redactEnv } from '../../src/config/env.js';
import { keyPrefix, redisConfigured, redisTopology } from '../../src/queue/connection.js';

describe('Redis Sentinel and Cluster settings', () => {
  it('reads sentinels as host:port lists, IPv6 in brackets', () => {
    const env = readEnv({
      REDIS_SENTINELS: 'sentinel-0:26379, sentinel-1:26379,[::1]:26380',
      REDIS_SENTINEL_NAME: 'opsbot',
      REDIS_PASSWORD: 'data-secret',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
    });
    expect(env.REDIS_SENTINELS).toEqual([
      { host: 'sentinel-0', port: 26379 },
      { host: 'sentinel-1', port: 26379 },
      { host: '::1', port: 26380 },
    ]);
    expect(redisTopology(env)).toBe('sentinel');
    expect(redisConfigured(env, {})).toBe(true);
    expect(keyPrefix(env, 'opsbot')).toBe('opsbot');
    const shown = JSON.stringify(redactEnv(env));
    expect(shown).not.toContain('data-secret');
    expect(shown).not.toContain('sentinel-secret');
  });

  it('hash-tags the key prefix on a Cluster, so every key of a script shares one slot', () => {
    const env = readEnv({ REDIS_CLUSTER_NODES: 'redis-0:6379,redis-1:6379', OPSBOT_QUEUE_PREFIX: 'ops' });
    expect(redisTopology(env)).toBe('cluster');
    expect(keyPrefix(env, env.OPSBOT_QUEUE_PREFIX)).toBe('{ops}');
    expect(keyPrefix(readEnv({ REDIS_CLUSTER_NODES: 'redis-0:6379' }), 'opsbot')).toBe('{opsbot}');
  });

  it('keeps the plain URL as before', () => {
    const env = readEnv({});
    expect(redisTopology(env)).toBe('standalone');
    expect(redisConfigured(env, {})).toBe(false);
    expect(redisConfigured(env, { REDIS_URL: 'redis://r:6379' })).toBe(true);
  });

  it('names the key and refuses ambiguous combinations', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { REDIS_SENTINELS: 'a:1', REDIS_CLUSTER_NODES: 'b:2', REDIS_SENTINEL_NAME: 'm' },
        /REDIS_CLUSTER_NODES: cannot be set together with REDIS_SENTINELS/,
      ],
      [
        { REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'redis://x:6379' },
        /REDIS_URL: cannot be set together with REDIS_SENTINELS/,
      ],
      [
        { REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://x:6379' },
        /REDIS_URL: cannot be set together with REDIS_CLUSTER_NODES/,
      ],
      [{ REDIS_SENTINELS: 'a:1' }, /REDIS_SENTINEL_NAME: is required with REDIS_SENTINELS/],
      [{ REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINEL_NAME: is set but REDIS_SENTINELS is not/],
      [{ REDIS_PASSWORD: 'p' }, /REDIS_PASSWORD: applies to REDIS_SENTINELS or REDIS_CLUSTER_NODES/],
      [{ REDIS_SENTINELS: 'sentinel-0', REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINELS\.0: must be host:port/],
      [{ REDIS_CLUSTER_NODES: 'a:1,b:99999' }, /REDIS_CLUSTER_NODES\.1: port must be 1-65535/],
    ];
    for (const [source, message] of cases)
      expect(() => readEnv(source), JSON.stringify(source)).toThrow(message);
    // The password of a refused setting is not echoed.
    expect(() => readEnv({ REDIS_PASSWORD: 'hunter2-secret' })).not.toThrow(/hunter2-secret/);
  });
});
