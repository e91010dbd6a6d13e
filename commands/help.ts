import { defineArgs } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { defineCommand, usageLines } from '../src/engine/command-module.js';

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
