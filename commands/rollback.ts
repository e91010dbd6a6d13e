import { imagesOf } from '../src/core/deployment.js';
import { defineArgs, PositiveIntText } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { planRollback, type RevisionSide, rollbackPatch } from '../src/core/rollback.js';
import { defineCommand, type Outcome, type RunContext } from '../src/engine/command-module.js';
import { rolloutLine, watchRollout } from '../src/engine/watch-rollout.js';
import { deploymentArg, mutatingFlags, mutatingScope } from './shared.js';

const parse = defineArgs({
  positionals: deploymentArg,
  flags: { ...mutatingFlags, to: PositiveIntText.optional() },
});
type Args = ReturnType<typeof parse>;

export function describeRevision(side: RevisionSide): string {
  return `revision ${side.revision ?? '?'} (${side.images.join(', ') || 'no images'})`;
}

/** Reads the deployment and its history and plans the undo; a retry reuses the first attempt's choice. */
async function plan(ctx: RunContext, args: Args) {
  const target = ctx.target(args.env);
  const chosen = ctx.checkpoint.get<number>('toRevision') ?? args.to;
  const deployment = await ctx.cluster.getDeployment(target, args.deployment);
  const replicaSets = await ctx.cluster.listReplicaSets(target, deployment);
  return { target, deployment, plan: planRollback(deployment, replicaSets, chosen) };
}

export const rollback = defineCommand({
  name: 'rollback',
  summary: 'Roll a deployment back to its previous revision, or to --to <revision>',
  usage: '/ops rollback <deployment> --env <env> [--to <revision>] [--reason "<text>"] [--emergency]',
  action: 'rollback',
  parse,
  scope: mutatingScope,

  async preview(ctx, args) {
    const { target, deployment, plan: p } = await plan(ctx, args);
    if (p.kind === 'noop') {
      return {
        lines: [`Already at ${describeRevision(p.after)}; nothing would change.`],
        resourceVersion: deployment.resourceVersion,
      };
    }
    const dryRun = await ctx.cluster.patchDeployment(target, args.deployment, rollbackPatch(p), 'json', {
      dryRun: true,
    });
    return {
      lines: [
        `Image: ${p.before.images.join(', ')} → ${imagesOf(dryRun.template).join(', ')}`,
        `Revision: ${p.before.revision ?? '?'} → ${p.after.revision ?? '?'}`,
        `Replicas: ${deployment.replicas} → ${dryRun.replicas}`,
      ],
      resourceVersion: deployment.resourceVersion,
    };
  },

  async run(ctx, args): Promise<Outcome> {
    const where = `*${args.deployment}* in *${args.env}*`;
    await ctx.progress(
      message(`Rolling back ${args.deployment} in ${args.env}…`, {
        lines: [`:hourglass: Rolling back ${where}…`],
      }),
    );
    const { target, deployment, plan: p } = await plan(ctx, args);
    const audit = {
      target: args.deployment,
      namespace: target.namespace,
      environment: args.env,
      args: { to: args.to },
      reason: args.reason,
    };

    let before = p.before;
    const earlier = ctx.checkpoint.get<RevisionSide>('before');
    if (earlier) {
      // An earlier attempt already chose and applied (or was applying) this undo.
      before = earlier;
      if (p.kind === 'rollback')
        await ctx.cluster.patchDeployment(target, args.deployment, rollbackPatch(p), 'json');
    } else if (p.kind === 'noop') {
      return {
        outcome: 'noop',
        message: message(
          `${args.deployment} in ${args.env} is already at revision ${p.revision}; nothing changed.`,
          {
            lines: [
              `:white_check_mark: ${where} is already at ${describeRevision(p.after)}. Nothing changed.`,
            ],
          },
        ),
        audit: { ...audit, before: p.before, after: p.after },
      };
    } else {
      ctx.expectUnchanged(deployment.resourceVersion);
      await ctx.checkpoint.set('toRevision', p.toRevision);
      await ctx.checkpoint.set('before', p.before);
      await ctx.cluster.patchDeployment(target, args.deployment, rollbackPatch(p), 'json');
    }

    const header = [
      `:rewind: Rolled back ${where}`,
      `from ${describeRevision(before)}`,
      `to ${describeRevision(p.after)}`,
    ];
    const rollout = await watchRollout(ctx, target, args.deployment, header);
    return {
      outcome: 'executed',
      message: message(`Rolled back to revision ${p.after.revision ?? '?'}; rollout ${rollout.state}.`, {
        lines: [...header, rolloutLine(rollout)],
      }),
      audit: { ...audit, before, after: p.after, rollout },
    };
  },
});
