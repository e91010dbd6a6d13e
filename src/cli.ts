#!/usr/bin/env node
import { loadConfig } from './config/load.js';
import { isOpsError } from './core/errors.js';
import { type Mode, type RunningBot, startBot } from './main.js';

const USAGE = `Usage: opsbot [start | worker | validate [opsbot.yml]]
  start      receive Slack commands and run workers (default)
  worker     run workers only, to scale them apart from the receivers
  validate   check a config file and exit`;

function validate(file: string): number {
  loadConfig(file);
  console.log(`${file}: OK`);
  return 0;
}

async function serve(mode: Mode): Promise<void> {
  const bot: RunningBot = await startBot(mode);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    bot.log.info({ signal }, 'signal received');
    bot.close().then(
      () => process.exit(0),
      (err: unknown) => {
        bot.log.error({ err }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<void> {
  const [verb = 'start', ...rest] = argv;
  switch (verb) {
    case 'start':
    case 'worker':
      return serve(verb === 'start' ? 'all' : 'worker');
    case 'validate':
      process.exitCode = validate(rest[0] ?? process.env.OPSBOT_CONFIG ?? './opsbot.yml');
      return;
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      console.error(USAGE);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (isOpsError(err)) {
    console.error(`opsbot: ${err.message}`);
  } else {
    console.error('opsbot: failed to start:', err);
  }
  process.exit(1);
});
