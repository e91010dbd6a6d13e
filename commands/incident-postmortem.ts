import { z } from 'zod';
import { UserInputError } from '../src/core/errors.js';
import { defineArgs } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { slackLink } from '../src/core/text.js';
import { defineIncidentCommand, incidentEnvironment } from './incident-declare.js';

const parse = defineArgs({ positionals: {}, flags: { env: z.string().min(1).optional() } });

export const incidentPostmortem = defineIncidentCommand({
  name: 'incident postmortem',
  summary: "Propose this channel's incident postmortem draft as a pull request (again: updates it)",
  usage: '/ops incident postmortem  (in an incident channel)',
  action: 'incident.postmortem',
  parse,
  // Whoever may act on the incident's environment may write its postmortem.
  environmentOf(input, _config, { incident }) {
    if (!incident) {
      throw new UserInputError(
        'Run this in the channel of the incident: this channel has no incident (or its record is still being set up).',
      );
    }
    if (!incident.environment) {
      throw new UserInputError(
        'This incident names no environment (no env label, and incidents.environment is not set), so opsbot cannot tell who may write its postmortem.',
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

  async run(ctx) {
    const pull = await ctx.services.postmortem(ctx.job.channel.id);
    const repo = ctx.config.incidents?.postmortem?.repo ?? '';
    const link = slackLink(pull.url, `${repo}#${pull.number}`);
    return {
      outcome: 'executed',
      message: message(`Postmortem draft: ${pull.url}`, {
        lines: [`:memo: Postmortem draft: ${link}. Running this again updates the same pull request.`],
      }),
      audit: { args: { incident: pull.id, pullRequest: pull.url } },
    };
  },
});
