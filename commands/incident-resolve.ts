import { z } from 'zod';
import { UserInputError } from '../src/core/errors.js';
import { defineArgs, oneLineText } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { mention } from '../src/engine/audit-records.js';
import { defineIncidentCommand, incidentEnvironment } from './incident-declare.js';

const parse = defineArgs({
  positionals: {},
  flags: {
    note: oneLineText(1, 500).optional(),
    env: z.string().min(1).optional(),
  },
});

export const incidentResolve = defineIncidentCommand({
  name: 'incident resolve',
  summary: "Resolve this channel's incident: summary here, issue closed, channel archived later",
  usage: '/ops incident resolve [--note "<text>"]  (in an incident channel)',
  action: 'incident.resolve',
  parse,
  // Permission is the incident's own environment's: --env can neither widen nor change it.
  environmentOf(input, _config, { incident }) {
    if (!incident) {
      throw new UserInputError(
        'Run this in the channel of the incident to resolve: this channel has no incident (or its record is still being set up).',
      );
    }
    if (!incident.environment) {
      throw new UserInputError(
        'This incident names no environment (no env label, and incidents.environment is not set), so opsbot cannot tell who may resolve it.',
      );
    }
    if (input.flags.env !== undefined && input.flags.env !== incident.environment) {
      throw new UserInputError(
        `This channel's incident is in ${incident.environment}; --env cannot name another environment.`,
      );
    }
    return incident.environment;
  },
  scope: (args, config) => ({ environment: incidentEnvironment(config, args.env) }),

  async run(ctx, args) {
    const incidents = ctx.services;
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
