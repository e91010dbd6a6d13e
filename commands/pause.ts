import { imagesOf, specVersionOf } from '../src/core/deployment.js';
import { defineArgs } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { defineCommand, type Outcome, type RunContext } from '../src/engine/command-module.js';
import { deploymentArg, mutatingFlags, mutatingScope } from './shared.js';

export const parsePausing = defineArgs({ positionals: deploymentArg, flags: mutatingFlags });
type Args = ReturnType<typeof parsePausing>;

/** The strategic-merge patch `kubectl rollout pause` (paused: true) and `resume` (paused: null) send. */
export function pausePatch(paused: boolean): object {
  return { spec: { paused: paused ? true : null } };
}

/**
 * Pause or resume the rollouts of a deployment. The wanted state is the intent: a retry that finds
 * it in place changes nothing, and one that is already there before the first write is a no-op.
 */
export async function setPaused(ctx: RunContext, args: Args, paused: boolean): Promise<Outcome> {
  const target = ctx.target(args.env);
  const verb = paused ? 'paused' : 'resumed';
  const where = `*${args.deployment}* in *${args.env}*`;
  const deployment = await ctx.cluster.getDeployment(target, args.deployment);
  const audit = {
    target: args.deployment,
    namespace: target.namespace,
    environment: args.env,
    reason: args.reason,
    args: { paused },
  };
  const intended = ctx.checkpoint.get<boolean>('intent') === paused;
  if (deployment.paused === paused && !intended) {
    const text = `${args.deployment} in ${args.env} is already ${verb}; nothing changed.`;
    return {
      outcome: 'noop',
      message: message(text, { lines: [`:white_check_mark: ${where} is already ${verb}.`] }),
      audit,
    };
  }
  const resumed = intended && deployment.paused === paused;
  if (!resumed) {
    ctx.expectUnchanged(deployment);
    await ctx.checkpoint.set('intent', paused);
    ctx.failpoint('before-patch');
    await ctx.cluster.patchDeployment(target, args.deployment, pausePatch(paused), 'strategic');
    ctx.failpoint('after-patch');
  }
  const images = imagesOf(deployment.template);
  const next = paused
    ? `New changes to its template are not rolled out until \`/ops resume ${args.deployment} --env ${args.env}\`.`
    : 'Changes made while it was paused roll out now.';
  return {
    outcome: 'executed',
    resumed,
    message: message(`${paused ? 'Paused' : 'Resumed'} rollouts of ${args.deployment} in ${args.env}.`, {
      lines: [
        `${paused ? ':double_vertical_bar:' : ':arrow_forward:'} ${paused ? 'Paused' : 'Resumed'} rollouts of ${where}. ${next}`,
      ],
    }),
    audit: {
      ...audit,
      before: { images, replicas: deployment.replicas },
      after: { images, replicas: deployment.replicas },
    },
    reversal: { kind: 'pause', environment: args.env, deployment: args.deployment, paused },
  };
}

export async function verifyPaused(ctx: RunContext, args: Args, paused: boolean) {
  if (ctx.checkpoint.get<boolean>('intent') !== paused) return undefined;
  const live = await ctx.cluster.getDeployment(ctx.target(args.env), args.deployment);
  return live.paused === paused ? ('applied' as const) : ('not-applied' as const);
}

export const pause = defineCommand({
  name: 'pause',
  summary: 'Pause the rollouts of a deployment, as kubectl rollout pause does',
  usage: '/ops pause <deployment> --env <env> [--reason "<text>"] [--emergency]',
  action: 'pause',
  mutates: true,
  step: { label: (args) => `Pause rollouts of ${args.deployment} in ${args.env}` },
  parse: parsePausing,
  scope: mutatingScope,
  async preview(ctx, args) {
    const deployment = await ctx.cluster.getDeployment(ctx.target(args.env), args.deployment);
    return {
      lines: [
        `Paused: ${deployment.paused} → true`,
        'Pods keep running; template changes wait until it is resumed',
      ],
      specVersion: specVersionOf(deployment),
    };
  },
  run: (ctx, args) => setPaused(ctx, args, true),
  verify: (ctx, args) => verifyPaused(ctx, args, true),
});
