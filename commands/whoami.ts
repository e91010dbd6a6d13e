import { defineArgs } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { grantsOf, mayUseEmergency, rolesOf } from '../src/core/policy.js';
import { defineCommand } from '../src/engine/command-module.js';

export const whoami = defineCommand({
  name: 'whoami',
  summary: 'Your roles and what they let you run',
  usage: '/ops whoami',
  parse: defineArgs({ positionals: {}, flags: {} }),
  reply(ctx) {
    const roles = rolesOf(ctx.config, ctx.principal);
    const grants = [...grantsOf(ctx.config, ctx.principal)].map(
      ([action, envs]) => `• \`${action}\` in ${envs.join(', ')}`,
    );
    const envs = Object.keys(ctx.config.environments);
    const approve = envs.filter((env) => roles.some((r) => ctx.config.roles[r]?.approve.includes(env)));
    const emergency = envs.filter((env) => mayUseEmergency(ctx.config, ctx.principal, env));
    const groups = [...ctx.principal.groups].map((g) => `@${g}`);
    return message(roles.length ? `You hold: ${roles.join(', ')}` : 'You hold no opsbot role.', {
      lines: [
        `*<@${ctx.principal.userId}>*${groups.length ? ` (in ${groups.join(', ')})` : ''}`,
        `*Roles:* ${roles.join(', ') || 'none — every action is denied'}`,
        ...(ctx.principal.groupsUnavailable ? [`:warning: ${ctx.principal.groupsUnavailable}.`] : []),
        ...(grants.length ? ['*You may run:*', ...grants] : []),
        ...(approve.length ? [`*You may approve in:* ${approve.join(', ')}`] : []),
        ...(emergency.length ? [`*Break-glass (--emergency) in:* ${emergency.join(', ')}`] : []),
      ],
    });
  },
});
