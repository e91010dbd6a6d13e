import { currentRevision, imagesOf } from '../src/core/deployment.js';
import { defineArgs } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { rolloutStatus } from '../src/core/rollout-status.js';
import { slackText } from '../src/core/text.js';
import { defineCommand } from '../src/engine/command-module.js';
import { deploymentArg, readFlags } from './shared.js';

const parse = defineArgs({ positionals: deploymentArg, flags: readFlags });

export const status = defineCommand({
  name: 'status',
  summary: 'Replicas, images, revision, conditions and troubled pods of a deployment',
  usage: '/ops status <deployment> --env <env>',
  action: 'status',
  step: { label: (args) => `Status of ${args.deployment} in ${args.env}` },
  parse,
  scope: (args) => ({ environment: args.env, target: args.deployment }),

  async run(ctx, args) {
    const target = ctx.target(args.env);
    const deployment = await ctx.cluster.getDeployment(target, args.deployment);
    const [replicaSets, pods] = await Promise.all([
      ctx.cluster.listReplicaSets(target, deployment),
      ctx.cluster.listPods(target, deployment),
    ]);
    const s = deployment.status;
    const rollout = rolloutStatus(deployment);
    const troubled = pods.filter((p) => !p.ready || p.restarts > 0);
    const revision = currentRevision(deployment, replicaSets);
    const conditions = s.conditions.map(
      (c) => `${slackText(c.type)}=${slackText(c.status)}${c.reason ? ` (${slackText(c.reason)})` : ''}`,
    );
    return {
      outcome: 'executed',
      message: message(
        `${args.deployment} in ${args.env}: ${s.readyReplicas}/${deployment.replicas} ready, revision ${revision ?? '?'}`,
        {
          lines: [
            `:bar_chart: *${args.deployment}* in *${args.env}* (namespace ${target.namespace})${deployment.paused ? ' — *paused*' : ''}`,
            rollout.state === 'complete'
              ? ':white_check_mark: Rolled out'
              : `${rollout.state === 'failed' ? ':x:' : ':hourglass_flowing_sand:'} ${rollout.text}`,
          ],
          fields: [
            [
              'Replicas',
              `desired ${deployment.replicas} · updated ${s.updatedReplicas} · ready ${s.readyReplicas} · available ${s.availableReplicas}`,
            ],
            ['Revision', String(revision ?? '?')],
            ['Images', imagesOf(deployment.template).join('\n') || 'none'],
            ['Conditions', conditions.join('\n') || 'none'],
            [
              'Pods needing attention',
              troubled.length === 0
                ? 'none'
                : troubled
                    .slice(0, 10)
                    .map(
                      (p) =>
                        `${p.name}: ${p.ready ? 'ready' : 'not ready'}${p.reason ? ` (${slackText(p.reason)})` : ''}, ${p.restarts} restarts`,
                    )
                    .join('\n'),
            ],
          ],
        },
      ),
      audit: { target: args.deployment, namespace: target.namespace, environment: args.env },
    };
  },
});
