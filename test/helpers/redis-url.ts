/** The Redis the tests use: REDIS_URL, which the global setup sets when it starts one itself. */
export function testRedisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** The test Redis's address with credentials added, and what the logs show of it once redacted. */
export function testRedisUrlWith(password: string, user = ''): { url: string; redacted: string } {
  const { host } = new URL(testRedisUrl());
  return { url: `redis://${user}:${password}@${host}`, redacted: `redis://${user}:[redacted]@${host}` };
}
