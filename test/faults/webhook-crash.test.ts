import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertFixture, INCIDENT_REPO, postWebhook, WEBHOOK_TOKEN } from '../helpers/alerts.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { DEFAULT_CONFIG, startWorld, USERS, type World } from '../helpers/world.js';
import { type RedisServer, sleep, startRedisServer, until } from './support.js';

const CONFIG = `${DEFAULT_CONFIG}
incidents:
  repo: ${INCIDENT_REPO}
  channelPrefix: inc
  routes:
    - { match: { team: api }, invite: [${USERS.oncall.id}] }
`;

/**
 * Issue: webhooks answer after one durable Redis write. The web process dies (SIGKILL) the moment
 * the sender has its 202, and Redis dies right after it (AOF, fsync always). A new opsbot, started
 * after both, opens the incident from what was queued: nothing accepted is lost.
 */
describe('a webhook accepted just before the process dies', () => {
  let redis: RedisServer;
  let world: World;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
    world = await startWorld({ config: CONFIG });
    world.github.createRepo(INCIDENT_REPO, { files: { 'README.md': '# incidents\n' } });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
    await redis?.stop();
  });

  it('is acted on by the next process: one channel, one issue, named after the alert', async () => {
    const env = { ...world.env, REDIS_URL: redis.url, OPSBOT_WEBHOOK_TOKEN: WEBHOOK_TOKEN };
    // The web process alone: no worker may act on the delivery before the crash.
    const web = await startBotProcess({ ...env, OPSBOT_FAILPOINTS: 'webhook.after-answer=exit' }, ['web']);
    const exited = once(web.child, 'exit');
    const firing = alertFixture<{ groupKey: string }>('alertmanager-firing.json');
    const answer = await postWebhook(web.url, 'alertmanager', firing);
    expect(answer.status).toBe(202);
    expect(answer.body.status).toBe('accepted');
    const [, signal] = await exited;
    expect(signal).toBe('SIGKILL');
    expect(web.lines.some((l) => l.msg === 'failpoint fired' && l.failpoint === 'webhook.after-answer')).toBe(
      true,
    );

    await redis.kill();
    await redis.start();
    expect(world.slack.channels().filter((c) => c.name.startsWith('inc-'))).toEqual([]);

    bot = await startBotProcess(env);
    const channel = await until(
      () => world.slack.channels().find((c) => c.name.startsWith('inc-')),
      30_000,
      'the incident channel of the accepted delivery',
    );
    // Named on the day it was opened (the clock is real): after the restart, not lost with the web.
    expect(channel.name).toBe(
      `inc-${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-higherrorrate`,
    );
    const issue = await until(() => world.github.issues(INCIDENT_REPO)[0], 20_000, 'the incident issue');
    expect(issue.title).toContain('HighErrorRate');

    // The sender retries (it never saw the 202 go missing, but senders do): nothing more is opened.
    const again = await postWebhook(bot.url, 'alertmanager', firing);
    expect(again.status).toBe(202);
    await sleep(1_500);
    expect(world.slack.channels().filter((c) => c.name.startsWith('inc-'))).toHaveLength(1);
    expect(world.github.issues(INCIDENT_REPO)).toHaveLength(1);
  }, 90_000);
});
