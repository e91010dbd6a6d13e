/**
 * Setup file: when a test fails, prints what each running bot process logged during it, so a CI
 * failure (a timeout above all) shows where the bot was, not only where the test waited.
 */
import { beforeEach } from 'vitest';
import { runningBots } from './bot-process.js';

/** Enough to see a job's steps; a flood of lines is cut to its end. */
const MAX_LINES = 120;

beforeEach(({ onTestFailed }) => {
  const startAt = new Map(runningBots().map((bot) => [bot, bot.raw.length]));
  onTestFailed(() => {
    for (const bot of runningBots()) {
      const lines = bot.raw.slice(startAt.get(bot) ?? 0).slice(-MAX_LINES);
      console.error(`The bot on port ${bot.port} logged during this test:\n${lines.join('\n')}`);
    }
  });
});
