#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfig } from './config/load.js';
import { isOpsError } from './core/errors.js';
import { knownActions, registeredCommands } from './features.js';
import { type Mode, type RunningBot, startBot } from './main.js';
import { loadTemplateDirSync, templatePath } from './preview/template-files.js';
import { loadRunbooks, runbooksDir } from './runbooks/load.js';
import { stepKinds } from './runbooks/steps/index.js';
import { onStopRequest } from './supervisor.js';

const USAGE = `Usage: opsbot [start | web | worker | validate [opsbot.yml]] [--as <slack user id>]
  start      receive Slack commands and alerts, and run the jobs on a worker thread beside
             them (default; OPSBOT_PROCESSES=one keeps one thread); without
             SLACK_BOT_TOKEN, a local shell against the sandbox cluster
  web        receive only: verify, check policy and queue (scale it apart from the workers)
  worker     run jobs only (scale it apart from the receivers)
  validate   check a config file and exit
  --as U123  local shell: act as this Slack user id (or set OPSBOT_USER)`;

function validate(file: string): number {
  const config = loadConfig(file, knownActions());
  console.log(`${file}: OK`);
  // Runbooks are checked against the config they will run under, with every step kind the registry offers.
  const dir = runbooksDir(config, file);
  const runbooks = loadRunbooks(dir, config, stepKinds(registeredCommands()));
  console.log(`${dir}: ${runbooks.length} runbook${runbooks.length === 1 ? '' : 's'} OK`);
  if (config.preview) {
    const manifests = loadTemplateDirSync(config.preview.template, file);
    const where = templatePath(config.preview.template, file);
    console.log(`${where}: preview template, ${manifests.length} objects OK`);
  }
  return 0;
}

async function serve(mode: Mode, as: string | undefined): Promise<void> {
  const bot: RunningBot = await startBot({ mode, as });
  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    bot.log.info({ reason }, 'stopping');
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
  // The worker thread of `opsbot start` gets no signals: its supervisor asks it instead.
  onStopRequest(() => stop('asked by the supervisor'));
  // A local shell session ends when the user leaves it.
  void bot.finished.then(() => stop('shell closed'));
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { as: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [verb = 'start', file] = positionals;
  if (values.help || verb === 'help') {
    console.log(USAGE);
    return;
  }
  switch (verb) {
    case 'start':
    case 'web':
    case 'worker':
      return serve(verb, values.as);
    case 'validate':
      process.exitCode = validate(file ?? process.env.OPSBOT_CONFIG ?? './opsbot.yml');
      return;
    default:
      console.error(USAGE);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(
    isOpsError(err)
      ? `opsbot: ${err.message}`
      : `opsbot: failed to start: ${String((err as Error)?.stack ?? err)}`,
  );
  process.exit(1);
});
