import { defineArgs } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { grantsOf } from '../src/core/policy.js';
import { type CommandModule, defineCommand, type InlineContext } from './command.js';

/** The usage lines of the commands this user may run; everything when `all` is set. */
export function usageLines(ctx: InlineContext, all = false): string[] {
  const grants = grantsOf(ctx.config, ctx.principal);
  return ctx.commands
    .filter((c: CommandModule) => all || c.action === undefined || grants.has(c.action))
    .map((c) => `\`${c.usage}\` — ${c.summary}`);
}

export const help = defineCommand({
  name: 'help',
  summary: 'Show the commands you may run',
  usage: '/ops help',
  parse: defineArgs({ positionals: {}, flags: {} }),
  reply(ctx) {
    const lines = usageLines(ctx);
    return message('opsbot commands', {
      lines: ['*What you can run here:*', ...lines],
      context: ['Mutating actions in protected environments need a second person to approve them.'],
    });
  },
});
