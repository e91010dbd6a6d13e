import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { readEnv, redactEnv } from '../../src/config/env.js';
import { createLogger } from '../../src/logger.js';
import { testRedisUrlWith } from '../helpers/redis-url.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { log: createLogger('trace', stream), text: () => lines.join('') };
}

describe('what the logs may hold', () => {
  it('replaces every secret setting and the password in any URL of the effective settings', () => {
    const env = readEnv({
      SLACK_BOT_TOKEN: 'xoxb-secret-bot-1',
      SLACK_SIGNING_SECRET: 'signing-secret-2',
      SLACK_APP_TOKEN: 'xapp-secret-app-3',
      GITHUB_APP_ID: '123',
      GITHUB_APP_PRIVATE_KEY:
        '-----BEGIN RSA PRIVATE KEY-----\\nsecret-key-4\\n-----END RSA PRIVATE KEY-----',
      GITHUB_APP_INSTALLATION_ID: '456',
      GITHUB_TOKEN: 'ghp_secret_5',
      OPSBOT_WEBHOOK_TOKEN: 'webhook-secret-6',
      PAGERDUTY_WEBHOOK_SECRET: 'pd-secret-7,pd-secret-8',
      REDIS_URL: 'rediss://opsbot:redis-secret-9@redis.internal:6380/2',
      GITHUB_API_URL: 'https://ghe-user:ghe-secret-10@github.example.com/api/v3',
    });
    const shown = JSON.stringify(redactEnv(env));
    for (let i = 1; i <= 10; i++) expect(shown).not.toMatch(new RegExp(`secret[-_a-z]*${i}\\b`));
    expect(redactEnv(env)).toMatchObject({
      REDIS_URL: 'rediss://opsbot:[redacted]@redis.internal:6380/2',
      GITHUB_API_URL: 'https://ghe-user:[redacted]@github.example.com/api/v3',
      SLACK_API_URL: 'https://slack.com/api/',
      GITHUB_APP_ID: '123',
    });
  });

  it("never prints a Redis password that ioredis put on an AUTH error's command", async () => {
    const password = 'redis-wrong-password-4e1a';
    const redis = new Redis(testRedisUrlWith(password, 'opsbot').url, {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    // What opsbot's connection logs (src/queue/connection.ts): the error event of a failed AUTH.
    const err = await new Promise<Error>((resolve) => redis.once('error', resolve));
    redis.disconnect();
    // The very error a failed AUTH gives: it carries the password in command.args.
    expect(JSON.stringify(err)).toContain(password);
    const { log, text } = capture();
    log.error({ err, purpose: 'queue' }, 'Redis connection error; retrying');
    log.warn({ err: { cause: err } }, 'wrapped');
    expect(text()).toContain('WRONGPASS');
    expect(text()).not.toContain(password);
  });
});
