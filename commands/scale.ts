import type { OpsbotConfig } from '../src/config/schema.js';
import { imagesOf, specVersionOf } from '../src/core/deployment.js';
import { StateError, UserInputError } from '../src/core/errors.js';
import { defineArgs, NonNegativeIntText } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { defineCommand, type Outcome } from '../src/engine/command-module.js';
import { rolloutLine, watchRollout } from '../src/engine/watch-rollout.js';
import type { ScaleView } from '../src/ports.js';
import { deploymentArg, mutatingFlags, mutatingScope } from './shared.js';

const CONFLICT_RETRIES = 5;

const parse = defineArgs({
  positionals: { ...deploymentArg, replicas: NonNegativeIntText },
  flags: mutatingFlags,
});
type Args = ReturnType<typeof parse>;

function checkBounds(config: OpsbotConfig, args: Args): void {
  const bounds = config.environments[args.env]?.scale;
  if (bounds && (args.replicas < bounds.min || args.replicas > bounds.max)) {
    throw new UserInputError(
      `${args.env} allows between ${bounds.min} and ${bounds.max} replicas; ${args.replicas} is outside that.`,
    );
  }
}

export const scale = defineCommand({
  name: 'scale',
  summary: "Set a deployment's replica count, within the environment's bounds",
  usage: '/ops scale <deployment> <replicas> --env <env> [--reason "<text>"] [--emergency]',
  action: 'scale',
  mutates: true,
  step: { label: (args) => `Scale ${args.deployment} in ${args.env} to ${args.replicas}` },
  parse,
  scope: mutatingScope,
  check: checkBounds,
  // A PUT of the scale subresource (replaceNamespacedDeploymentScale), guarded by resourceVersion.
  clusterAccess: (args) => [
    {
      environment: args.env,
      verb: 'update',
      group: 'apps',
      resource: 'deployments',
      subresource: 'scale',
      name: args.deployment,
    },
  ],

  async preview(ctx, args) {
    checkBounds(ctx.config, args);
    const target = ctx.target(args.env);
    const deployment = await ctx.cluster.getDeployment(target, args.deployment);
    const current = await ctx.cluster.getScale(target, args.deployment);
    const dryRun = await ctx.cluster.replaceScale(
      target,
      args.deployment,
      { ...current, replicas: args.replicas },
      { dryRun: true },
    );
    return {
      lines: [
        `Replicas: ${current.replicas} → ${dryRun.replicas}`,
        `Image: ${imagesOf(deployment.template).join(', ')} (unchanged)`,
      ],
      specVersion: specVersionOf(deployment),
    };
  },

  async run(ctx, args): Promise<Outcome> {
    checkBounds(ctx.config, args);
    const target = ctx.target(args.env);
    const where = `*${args.deployment}* in *${args.env}*`;
    const deployment = await ctx.cluster.getDeployment(target, args.deployment);
    const audit = {
      target: args.deployment,
      namespace: target.namespace,
      environment: args.env,
      reason: args.reason,
      args: { replicas: args.replicas },
    };
    // The intent: from what count, saved before the write, so a retry still reports the real change.
    let from = ctx.checkpoint.get<number>('from');
    let current: ScaleView = await ctx.cluster.getScale(target, args.deployment);
    const resumed = from !== undefined && current.replicas === args.replicas;
    if (from === undefined) {
      if (current.replicas === args.replicas) {
        return {
          outcome: 'noop',
          message: message(
            `${args.deployment} in ${args.env} already runs ${args.replicas} replicas; nothing changed.`,
            {
              lines: [`:white_check_mark: ${where} already runs ${args.replicas} replicas. Nothing changed.`],
            },
          ),
          audit: {
            ...audit,
            before: { replicas: current.replicas, images: [] },
            after: { replicas: args.replicas, images: [] },
          },
        };
      }
      ctx.expectUnchanged(deployment);
      from = current.replicas;
      await ctx.checkpoint.set('from', from);
    }
    for (let attempt = 1; current.replicas !== args.replicas; attempt++) {
      try {
        ctx.failpoint('before-patch');
        current = await ctx.cluster.replaceScale(target, args.deployment, {
          ...current,
          replicas: args.replicas,
        });
        ctx.failpoint('after-patch');
      } catch (err) {
        // 409: someone else wrote in between; read fresh state and try again.
        if (!(err instanceof StateError && err.code === 'conflict') || attempt >= CONFLICT_RETRIES) throw err;
        current = await ctx.cluster.getScale(target, args.deployment);
      }
    }
    const header = [`:straight_ruler: Scaled ${where} from ${from} to ${args.replicas} replicas`];
    const rollout = await watchRollout(ctx, target, args.deployment, header);
    const images = imagesOf(deployment.template);
    return {
      outcome: 'executed',
      resumed,
      message: message(
        `Scaled ${args.deployment} in ${args.env} to ${args.replicas}; rollout ${rollout.state}.`,
        {
          lines: [...header, rolloutLine(rollout)],
        },
      ),
      audit: {
        ...audit,
        before: { replicas: from, images },
        after: { replicas: args.replicas, images },
        rollout,
      },
      reversal: {
        kind: 'scale',
        environment: args.env,
        deployment: args.deployment,
        from,
        to: args.replicas,
      },
    };
  },

  async verify(ctx, args) {
    if (ctx.checkpoint.get<number>('from') === undefined) return undefined;
    const live = await ctx.cluster.getScale(ctx.target(args.env), args.deployment);
    return live.replicas === args.replicas ? 'applied' : 'not-applied';
  },
});
