import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { slash, startWorld, type World } from '../helpers/world.js';
import { generationOf, recordsFor, sleep, until, writesTo } from './support.js';

describe('a worker killed with SIGKILL in the middle of an action', () => {
  let world: World;
  const bots: BotProcess[] = [];

  beforeAll(async () => {
    // Slow rollouts keep the job inside watchRollout for several seconds after its PATCH.
    world = await startWorld({ rolloutStepMs: 1_500 });
  });

  afterAll(async () => {
    for (const bot of bots) await bot?.stop();
    await world?.close();
  });

  it('is recovered by another process, patches once and leaves one executed record', async () => {
    const receiver = await startBotProcess(world.env);
    bots.push(receiver);
    const generation = generationOf(world, 'api');

    const res = await slash(receiver.url, world, 'rollback api --env staging --reason "fault test"');
    expect(res.body.text).toMatch(/^Accepted: rollback api in staging \(job (cmd-[0-9a-f]+)\)\.$/);
    const jobId = /\(job (cmd-[0-9a-f]+)\)/.exec(res.body.text ?? '')?.[1];

    await until(() => writesTo(world, 'api').length > 0, 15_000, 'the rollback PATCH');
    await sleep(300);
    // Mid-action: patched, still watching the rollout, nothing finished or recorded yet.
    expect(receiver.lines.some((l) => l.msg === 'command started' && l.jobId === jobId)).toBe(true);
    expect(receiver.lines.some((l) => l.msg === 'command finished')).toBe(false);
    expect(recordsFor(world, 'api')).toHaveLength(0);
    await receiver.stop('SIGKILL');

    // A worker-only process takes over; BullMQ finds the stalled job once its 10 s lock lapses.
    const worker = await startBotProcess(world.env, ['worker']);
    bots.push(worker);
    await worker.waitForLog((l) => l.msg === 'command started' && l.jobId === jobId, 40_000);
    const records = await until(
      () => recordsFor(world, 'api').length > 0 && recordsFor(world, 'api'),
      40_000,
      'the audit record',
    );
    await sleep(1_000);

    expect(writesTo(world, 'api')).toHaveLength(1);
    expect(generationOf(world, 'api') - generation).toBe(1);
    expect(recordsFor(world, 'api')).toHaveLength(1);
    // The undo renumbered revision 2 to 4; the record must still say what happened, not "failed".
    expect(records[0]).toMatchObject({
      outcome: 'executed',
      action: 'rollback',
      id: `${jobId}-executed`,
      before: { revision: 3 },
      after: { revision: 2 },
    });
    expect(String(records[0]?.message)).toMatch(
      /^Rolled back to revision 2; rollout complete\. \(was already applied before a restart of opsbot\)$/,
    );
    const reply = world.slack.messages('COPS').find((m) => JSON.stringify(m.blocks).includes(`job ${jobId}`));
    expect(reply?.text).toMatch(/^Rolled back to revision 2; rollout complete/);
  }, 90_000);
});
