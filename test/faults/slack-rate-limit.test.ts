import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { slash, startWorld, type World } from '../helpers/world.js';
import { recordsFor, sleep, until, writesTo } from './support.js';

describe('Slack answering 429 with Retry-After', () => {
  let world: World;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    world = await startWorld({ rolloutStepMs: 200 });
    bot = await startBotProcess(world.env);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('retries after the wait and loses no reply', async () => {
    world.slack.rateLimit({ method: 'chat.postMessage', times: 2, retryAfterSeconds: 1 });
    world.slack.rateLimit({ method: 'chat.update', times: 2, retryAfterSeconds: 1 });
    const res = await slash(bot!.url, world, 'restart worker --env staging');
    expect(res.body.text).toMatch(/^Accepted/);

    const final = await until(
      () => world.slack.messages('COPS').find((m) => m.text?.startsWith('Restarted worker in staging')),
      30_000,
      'the outcome message',
    );
    await until(() => recordsFor(world, 'worker').length > 0, 15_000, 'the audit record');
    await sleep(1_000);

    const limited = world.slack.calls.filter((c) => c.status === 429).map((c) => c.method);
    expect(limited.filter((m) => m === 'chat.postMessage')).toHaveLength(2);
    expect(limited.filter((m) => m === 'chat.update')).toHaveLength(2);
    // One message for the job, posted once (not once per retry) and updated in place to the outcome.
    const mine = world.slack.messages('COPS').filter((m) => m.text?.includes('worker'));
    expect(mine).toHaveLength(1);
    expect(final.text).toMatch(/rollout complete/);
    expect(writesTo(world, 'worker')).toHaveLength(1);
    expect(recordsFor(world, 'worker')).toHaveLength(1);
    expect(recordsFor(world, 'worker')[0]?.outcome).toBe('executed');
  }, 60_000);
});
