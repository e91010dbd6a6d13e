import { run } from '../../commands/run.js';
import { type Runbook, runbookSchema } from '../../src/core/runbook.js';
import { bindCommand, type CommandModule } from '../../src/engine/command-module.js';
import { registeredCommands } from '../../src/features.js';
import { stepKinds } from '../../src/runbooks/steps/index.js';

/**
 * The registries as the bot builds them, for tests that drive a command or a runbook without a
 * running bot: every step kind, the runbook format they make, and `/ops run` bound to runbooks.
 */
export const kinds = stepKinds(registeredCommands());

/** The runbook file format of the registered step kinds. */
export const RunbookFormat = runbookSchema(kinds);

export function parseRunbook(value: unknown): Runbook {
  return RunbookFormat.parse(value);
}

/** `/ops run` with these runbooks, as the runbooks feature binds it. */
export function runWith(runbooks: readonly Runbook[]): CommandModule {
  return bindCommand(run, { services: { runbooks, kinds } });
}

/** Every registered command, with `/ops run` bound to these runbooks: what the ack path sees. */
export function commandsWith(runbooks: readonly Runbook[]): CommandModule[] {
  return registeredCommands().map((c) => (c.name === 'run' ? runWith(runbooks) : c));
}
