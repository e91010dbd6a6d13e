import { imagesOf, specMoved, specVersionOf } from '../src/core/deployment.js';
import { StateError } from '../src/core/errors.js';
import { defineArgs, PositiveIntText } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import {
  intentOf,
  planRollback,
  type RevisionSide,
  RollbackIntent,
  rollbackApplied,
  rollbackPatch,
} from '../src/core/rollback.js';
import { defineCommand, type Outcome, type RunContext } from '../src/engine/command-module.js';
import { rolloutLine, watchRollout } from '../src/engine/watch-rollout.js';
import type { ReadFrom } from '../src/ports.js';
import { deploymentArg, mutatingFlags, mutatingScope } from './shared.js';

const parse = defineArgs({
  positionals: deploymentArg,
  flags: { ...mutatingFlags, to: PositiveIntText.optional() },
});
type Args = ReturnType<typeof parse>;

/** A PATCH refused with 409 was not applied, so planning again from fresh state is safe; this many times. */
const CONFLICT_REPLANS = 3;

export function describeRevision(side: RevisionSide): string {
  return `revision ${side.revision ?? '?'} (${side.images.join(', ') || 'no images'})`;
}

/** Reads the deployment and its history and plans the undo, as `kubectl rollout undo` does. */
async function plan(ctx: RunContext, args: Args, from: ReadFrom = 'server') {
  const target = ctx.target(args.env);
  const deployment = await ctx.cluster.getDeployment(target, args.deployment, from);
  const replicaSets = await ctx.cluster.listReplicaSets(target, deployment, from);
  return { target, deployment, plan: planRollback(deployment, replicaSets, args.to) };
}

/** The intent an earlier attempt saved before its PATCH, if there was one. */
function savedIntent(ctx: RunContext): RollbackIntent | undefined {
  const parsed = RollbackIntent.safeParse(ctx.checkpoint.get('intent'));
  return parsed.success ? parsed.data : undefined;
}

/** Whether the saved intent is in effect on the live deployment. */
async function effectOf(ctx: RunContext, args: Args, intent: RollbackIntent) {
  const target = ctx.target(args.env);
  const live = await ctx.cluster.getDeployment(target, args.deployment);
  const replicaSets = await ctx.cluster.listReplicaSets(target, live);
  return { live, applied: rollbackApplied(live, replicaSets, intent) };
}

export const rollback = defineCommand({
  name: 'rollback',
  summary: 'Roll a deployment back to its previous revision, or to --to <revision>',
  usage: '/ops rollback <deployment> --env <env> [--to <revision>] [--reason "<text>"] [--emergency]',
  action: 'rollback',
  mutates: true,
  step: {
    label: (args) =>
      `Roll back ${args.deployment} in ${args.env}${args.to === undefined ? '' : ` to revision ${args.to}`}`,
  },
  parse,
  scope: mutatingScope,
  // A JSON patch of the deployment's template and annotations, as `kubectl rollout undo` sends.
  clusterAccess: (args) => [
    { environment: args.env, verb: 'patch', group: 'apps', resource: 'deployments', name: args.deployment },
  ],

  async preview(ctx, args) {
    const { target, deployment, plan: p } = await plan(ctx, args);
    if (p.kind === 'noop') {
      return {
        lines: [`Already at ${describeRevision(p.after)}; nothing would change.`],
        specVersion: specVersionOf(deployment),
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
      specVersion: specVersionOf(deployment),
    };
  },

  async run(ctx, args): Promise<Outcome> {
    const target = ctx.target(args.env);
    const where = `*${args.deployment}* in *${args.env}*`;
    const audit = {
      target: args.deployment,
      namespace: target.namespace,
      environment: args.env,
      args: { to: args.to },
      reason: args.reason,
    };

    // The first plan reads the watch cache, so the PATCH needs no request before it; an approved one
    // reads the server, since a cache lagging behind the approved spec would refuse it for nothing.
    let from: ReadFrom = ctx.job.approver === undefined ? 'cache' : 'server';
    let intent = savedIntent(ctx);
    let resumed = false;
    /** Drops the intent, so the loop plans again from the server. */
    const planAgain = async () => {
      intent = undefined;
      from = 'server';
      await ctx.checkpoint.set('intent', undefined);
    };
    if (intent) {
      // A retry: judge by the live deployment, never by planning again (the undo renumbered revisions).
      const { live, applied } = await effectOf(ctx, args, intent);
      if (applied) resumed = true;
      else {
        const moved = specMoved(intent, live);
        if (moved) {
          throw new StateError(
            'conflict',
            `${args.deployment} changed since this rollback was planned (${moved}) and the rollback was not applied. Nothing was changed; check /ops status and request it again.`,
          );
        }
        // Not applied and the spec as planned (a landed PATCH would have moved it): plan again, since
        // the status may have moved the resourceVersion the saved PATCH is guarded by.
        await planAgain();
      }
    }
    for (let replans = 0; !resumed; replans++) {
      if (!intent) {
        let planned = await plan(ctx, args, from);
        // A cache can lag a deploy made a moment ago: "nothing to do" is confirmed by the server.
        if (planned.plan.kind === 'noop' && from === 'cache') planned = await plan(ctx, args, 'server');
        const { deployment, plan: p } = planned;
        if (p.kind === 'noop') {
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
        }
        ctx.expectUnchanged(deployment);
        intent = intentOf(p);
        // Saved before the PATCH: whatever happens next, a retry can tell whether it landed.
        await ctx.checkpoint.set('intent', intent);
      }
      try {
        ctx.failpoint('before-patch');
        await ctx.cluster.patchDeployment(target, args.deployment, rollbackPatch(intent), 'json');
        ctx.failpoint('after-patch');
        break;
      } catch (err) {
        // 409: the deployment moved after we read it, and the server applied nothing. Plan again from fresh state.
        const conflict = err instanceof StateError && err.code === 'conflict';
        // An approved rollback plans again too: expectUnchanged then refuses it if the spec moved.
        if (!conflict || replans >= CONFLICT_REPLANS) throw err;
        await planAgain();
      }
    }
    if (!intent) throw new Error('unreachable: a rollback was applied without an intent');

    const header = [
      `:rewind: Rolled back ${where}`,
      `from ${describeRevision(intent.before)}`,
      `to ${describeRevision(intent.after)}`,
    ];
    const rollout = await watchRollout(ctx, target, args.deployment, header);
    return {
      outcome: 'executed',
      resumed,
      message: message(`Rolled back to revision ${intent.after.revision ?? '?'}; rollout ${rollout.state}.`, {
        lines: [...header, rolloutLine(rollout)],
      }),
      audit: {
        ...audit,
        args: { to: args.to, toRevision: intent.toRevision },
        before: intent.before,
        after: intent.after,
        rollout,
      },
      ...(intent.live && intent.before.revision !== undefined
        ? {
            reversal: {
              kind: 'rollback' as const,
              environment: args.env,
              deployment: args.deployment,
              revision: intent.before.revision,
              template: intent.live.template,
              annotations: intent.live.annotations,
              images: intent.before.images,
              after: { template: intent.template, images: intent.after.images },
            },
          }
        : {}),
    };
  },

  async verify(ctx, args) {
    const intent = savedIntent(ctx);
    if (!intent) return undefined;
    return (await effectOf(ctx, args, intent)).applied ? 'applied' : 'not-applied';
  },
});
