import { z } from 'zod';
import { defineArgs } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { mention } from '../src/engine/audit-records.js';
import { defineCommand } from '../src/engine/command-module.js';
import { incidentEnvironment, incidentsOf } from './incident-declare.js';

const parse = defineArgs({
  positionals: {},
  flags: {
    note: z.string().trim().min(1).max(500).optional(),
    env: z.string().min(1).optional(),
  },
});

export const incidentResolve = defineCommand({
  name: 'incident resolve',
  summary: "Resolve this channel's incident: summary here, issue closed, channel archived later",
  usage: '/ops incident resolve [--note "<text>"]  (in an incident channel)',
  action: 'incident.resolve',
  parse,
  scope: (args, config) => ({ environment: incidentEnvironment(config, args.env) }),

  async run(ctx, args) {
    const incidents = incidentsOf(ctx);
    const result = await incidents.resolve(ctx.job.channel.id, mention(ctx.job.requester), args.note);
    const text = result.alreadyResolved ? 'This incident was already resolved.' : 'Incident resolved.';
    return {
      outcome: result.alreadyResolved ? 'noop' : 'executed',
      message: message(text, {
        lines: [
          `:white_check_mark: ${text} The summary follows here; the GitHub issue is closed with a timeline.`,
        ],
      }),
      audit: { args: { incident: result.id, ...(args.note ? { note: args.note } : {}) } },
    };
  },
});
