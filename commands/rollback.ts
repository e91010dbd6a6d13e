import { z } from 'zod';
import { defineArgs, PositiveIntText, Reason } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { Dns1123Label } from '../src/core/names.js';
import { planRollback, type RevisionSide, rollbackPatch } from '../src/core/rollback.js';
import { defineCommand } from './command.js';

const parse = defineArgs({
  positionals: { deployment: Dns1123Label },
  flags: { env: z.string().min(1), to: PositiveIntText.optional(), reason: Reason.optional() },
});

function describe(side: RevisionSide): string {
  return `revision ${side.revision ?? '?'} (${side.images.join(', ') || 'no images'})`;
}

export const rollback = defineCommand({
  name: 'rollback',
  summary: 'Roll a deployment back to its previous revision, or to --to <revision>',
  usage: '/ops rollback <deployment> --env <env> [--to <revision>] [--reason "<text>"]',
  action: 'rollback',
  parse,
  scope: (args) => ({ environment: args.env, target: args.deployment, reason: args.reason }),

  async run(ctx, args) {
    const target = ctx.target(args.env);
    const where = `*${args.deployment}* in *${args.env}*`;
    await ctx.progress(
      message(`Rolling back ${args.deployment} in ${args.env}…`, {
        lines: [`:hourglass: Rolling back ${where}…`],
      }),
    );

    // A retried job reuses the revision chosen on its first attempt, so it never undoes twice.
    const chosen = ctx.checkpoint.get<number>('toRevision') ?? args.to;
    const deployment = await ctx.cluster.getDeployment(target, args.deployment);
    const replicaSets = await ctx.cluster.listReplicaSets(target, deployment);
    const plan = planRollback(deployment, replicaSets, chosen);
    const audit = {
      target: args.deployment,
      namespace: target.namespace,
      environment: args.env,
      args: { to: args.to },
      reason: args.reason,
    };

    if (plan.kind === 'noop') {
      const earlier = ctx.checkpoint.get<RevisionSide>('before');
      if (earlier) {
        // An earlier attempt applied the patch and then died: the work is done, report it as done.
        return executed(where, earlier, plan.after, audit);
      }
      return {
        outcome: 'noop',
        message: message(
          `${args.deployment} in ${args.env} is already at revision ${plan.revision}; nothing changed.`,
          {
            lines: [`:white_check_mark: ${where} is already at ${describe(plan.after)}. Nothing changed.`],
          },
        ),
        audit: { ...audit, before: plan.before, after: plan.after },
      };
    }

    await ctx.checkpoint.set('toRevision', plan.toRevision);
    await ctx.checkpoint.set('before', plan.before);
    await ctx.cluster.jsonPatchDeployment(target, args.deployment, rollbackPatch(plan));
    return executed(where, plan.before, plan.after, audit);
  },
});

function executed(where: string, before: RevisionSide, after: RevisionSide, audit: object) {
  return {
    outcome: 'executed' as const,
    message: message(`Rolled back to revision ${after.revision ?? '?'}.`, {
      lines: [`:rewind: Rolled back ${where}`, `from ${describe(before)}`, `to ${describe(after)}`],
    }),
    audit: { ...audit, before, after },
  };
}
