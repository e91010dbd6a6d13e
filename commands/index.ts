import type { CommandModule } from './command.js';
import { help } from './help.js';
import { history } from './history.js';
import { restart } from './restart.js';
import { rollback } from './rollback.js';
import { scale } from './scale.js';
import { status } from './status.js';
import { whoami } from './whoami.js';

/** Every /ops verb, registered by hand so that what the bot can do is visible in one place. */
export const commands: readonly CommandModule[] = [help, whoami, status, history, rollback, restart, scale];

/** The command whose name matches the leading words; the longest name wins ("env open" over "env"). */
export function findCommand(
  words: readonly string[],
  registry: readonly CommandModule[] = commands,
): { command: CommandModule; rest: string[] } | undefined {
  const sorted = [...registry].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  for (const command of sorted) {
    const parts = command.name.split(' ');
    if (parts.every((p, i) => words[i]?.toLowerCase() === p)) {
      return { command, rest: words.slice(parts.length) };
    }
  }
  return undefined;
}
