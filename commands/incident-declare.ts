import { z } from 'zod';
import type { OpsbotConfig } from '../src/config/schema.js';
import { defineArgs, oneLineText } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { slackText } from '../src/core/text.js';
import { mention } from '../src/engine/audit-records.js';
import { commandsWith } from '../src/engine/command-module.js';
import type { IncidentCommands } from '../src/ports.js';

const parse = defineArgs({
  positionals: { title: oneLineText(3, 150) },
  flags: {
    severity: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,20}$/, 'must be a word such as sev1, sev2 or critical')
      .default('sev2'),
    env: z.string().min(1).optional(),
  },
});

/** The environment an incident is declared for: --env, else incidents.environment, else the first one. */
export function incidentEnvironment(config: OpsbotConfig, env: string | undefined): string {
  return env ?? config.incidents?.environment ?? Object.keys(config.environments)[0] ?? '';
}

/** The incident commands run with the incidents feature's service. */
export const defineIncidentCommand = commandsWith<IncidentCommands>();

export const incidentDeclare = defineIncidentCommand({
  name: 'incident declare',
  summary: 'Open an incident by hand: a channel, the responders and a GitHub issue',
  usage: '/ops incident declare "<title>" [--severity sev1|sev2|…] [--env <env>]',
  action: 'incident.declare',
  parse,
  environmentOf: (input, config) =>
    incidentEnvironment(config, typeof input.flags.env === 'string' ? input.flags.env : undefined),
  scope: (args, config) => ({ environment: incidentEnvironment(config, args.env) }),

  async run(ctx, args) {
    const incidents = ctx.services;
    const environment = incidentEnvironment(ctx.config, args.env);
    const opened = await incidents.declare({
      title: args.title,
      severity: args.severity,
      environment,
      by: mention(ctx.job.requester),
      key: ctx.job.id,
    });
    const where = opened.channelId ? `<#${opened.channelId}>` : 'a new channel (being created)';
    return {
      outcome: 'executed',
      message: message(`Declared incident "${slackText(args.title)}" (${args.severity}).`, {
        lines: [
          `:rotating_light: Declared *${slackText(args.title)}* (${args.severity}) in ${environment}: ${where}.`,
        ],
      }),
      audit: { environment, args: { title: args.title, severity: args.severity, incident: opened.id } },
    };
  },
});
