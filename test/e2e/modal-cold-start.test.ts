/**
 * The web process loads the Kubernetes client only when a form needs it (lean-processes.test.ts).
 * On a busy node that load can take longer than Slack waits for a list (3 s), so it starts as the
 * form opens: the first list after a start must not come back empty.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { openModal } from '../helpers/slack-views.js';
import { startWorld, USERS, type World } from '../helpers/world.js';

/** Longer than the 2.5 s the bot gives itself to answer a block_suggestion. */
const SLOW_LOAD_MS = 3_000;

describe('the /ops modal, first opened while the Kubernetes client is slow to load', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld();
    bot = await startBotProcess(
      // The built file that holds the Kubernetes client (src/kubernetes/client-node.ts, bundled).
      { ...world.env, OPSBOT_IMPORT_DELAY: `node_modules/@kubernetes/client-node/=${SLOW_LOAD_MS}` },
      ['start'],
      ['--import', './test/helpers/import-log.mjs'],
    );
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('lists the deployments to a person who picks the environment a second and a half after it opens', async () => {
    const modal = await openModal(bot.url, world, USERS.oncall);
    await sleep(1_500);
    await modal.pick('ops.env', 'prod');
    const deployments = await modal.suggest('ops.deployment');
    expect(deployments.map((o) => o.value)).toEqual(['api', 'web', 'worker']);
  });
});
