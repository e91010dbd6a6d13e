import { imagesOf, specVersionOf } from '../src/core/deployment.js';
import { StateError } from '../src/core/errors.js';
import { defineArgs } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { defineCommand, type Outcome } from '../src/engine/command-module.js';
import { rolloutLine, watchRollout } from '../src/engine/watch-rollout.js';
import { deploymentArg, mutatingFlags, mutatingScope } from './shared.js';

export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

/** The strategic-merge patch `kubectl rollout restart` sends. */
export function restartPatch(at: string): object {
  return { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: at } } } } };
}

function restartedAtOf(template: Record<string, unknown>): string | undefined {
  const annotations = (template.metadata as { annotations?: Record<string, string> } | undefined)
    ?.annotations;
  return annotations?.[RESTARTED_AT];
}

const parse = defineArgs({ positionals: deploymentArg, flags: mutatingFlags });

export const restart = defineCommand({
  name: 'restart',
  summary: 'Restart every pod of a deployment with a rolling update, as kubectl rollout restart does',
  usage: '/ops restart <deployment> --env <env> [--reason "<text>"] [--emergency]',
  action: 'restart',
  mutates: true,
  step: { label: (args) => `Restart ${args.deployment} in ${args.env}` },
  parse,
  scope: mutatingScope,
  // A strategic-merge patch of the pod template's restartedAt annotation.
  clusterAccess: (args) => [
    { environment: args.env, verb: 'patch', group: 'apps', resource: 'deployments', name: args.deployment },
  ],

  async preview(ctx, args) {
    const target = ctx.target(args.env);
    const deployment = await ctx.cluster.getDeployment(target, args.deployment);
    const at = new Date(ctx.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    const dryRun = await ctx.cluster.patchDeployment(target, args.deployment, restartPatch(at), 'strategic', {
      dryRun: true,
    });
    return {
      lines: [
        `Restart all ${deployment.replicas} pods (rolling)`,
        `Image: ${imagesOf(dryRun.template).join(', ')} (unchanged)`,
        `Replicas: ${deployment.replicas} → ${dryRun.replicas}`,
      ],
      specVersion: specVersionOf(deployment),
    };
  },

  async run(ctx, args): Promise<Outcome> {
    const target = ctx.target(args.env);
    const where = `*${args.deployment}* in *${args.env}*`;
    const deployment = await ctx.cluster.getDeployment(target, args.deployment);
    // The timestamp chosen first is the intent: a retry that finds it on the template restarts nothing.
    let at = ctx.checkpoint.get<string>('restartedAt');
    const resumed = at !== undefined && restartedAtOf(deployment.template) === at;
    if (!resumed) {
      if (deployment.paused) {
        throw new StateError(
          'paused',
          `${args.deployment} is paused; resume it before restarting (kubectl rollout resume deployment/${args.deployment}).`,
        );
      }
      if (!at) ctx.expectUnchanged(deployment);
      at ??= new Date(ctx.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
      await ctx.checkpoint.set('restartedAt', at);
      ctx.failpoint('before-patch');
      await ctx.cluster.patchDeployment(target, args.deployment, restartPatch(at), 'strategic');
      ctx.failpoint('after-patch');
    }
    const header = [`:arrows_counterclockwise: Restarted ${where}`, `${RESTARTED_AT}: ${at}`];
    const rollout = await watchRollout(ctx, target, args.deployment, header);
    const images = imagesOf(deployment.template);
    return {
      outcome: 'executed',
      resumed,
      message: message(`Restarted ${args.deployment} in ${args.env}; rollout ${rollout.state}.`, {
        lines: [...header, rolloutLine(rollout)],
      }),
      audit: {
        target: args.deployment,
        namespace: target.namespace,
        environment: args.env,
        reason: args.reason,
        args: { restartedAt: at },
        before: { images, replicas: deployment.replicas },
        after: { images, replicas: deployment.replicas },
        rollout,
      },
      reversal: {
        kind: 'irreversible',
        why: 'a restart replaces the pods; there is no earlier state to go back to',
        nearest: `/ops rollback ${args.deployment} --env ${args.env}`,
      },
    };
  },

  async verify(ctx, args) {
    const at = ctx.checkpoint.get<string>('restartedAt');
    if (!at) return undefined;
    const live = await ctx.cluster.getDeployment(ctx.target(args.env), args.deployment);
    return restartedAtOf(live.template) === at ? 'applied' : 'not-applied';
  },
});
