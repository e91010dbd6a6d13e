import {
  CHANGE_CAUSE_ANNOTATION,
  currentRevision,
  imagesOf,
  ownedReplicaSets,
  revisionOf,
} from '../src/core/deployment.js';
import { defineArgs } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { slackText } from '../src/core/text.js';
import { defineCommand } from '../src/engine/command-module.js';
import { age, deploymentArg, readFlags } from './shared.js';

const parse = defineArgs({ positionals: deploymentArg, flags: readFlags });
const MAX_ROWS = 20;

export const history = defineCommand({
  name: 'history',
  summary:
    'Revisions of a deployment with image, change-cause and age, as kubectl rollout history shows them',
  usage: '/ops history <deployment> --env <env>',
  action: 'history',
  parse,
  scope: (args) => ({ environment: args.env, target: args.deployment }),

  async run(ctx, args) {
    const target = ctx.target(args.env);
    const deployment = await ctx.cluster.getDeployment(target, args.deployment);
    const replicaSets = await ctx.cluster.listReplicaSets(target, deployment);
    const current = currentRevision(deployment, replicaSets);
    const now = ctx.clock.now();
    const rows = ownedReplicaSets(deployment, replicaSets)
      .map((rs) => ({ rs, revision: revisionOf(rs) }))
      .filter((r): r is { rs: (typeof replicaSets)[number]; revision: number } => r.revision !== undefined)
      .sort((a, b) => b.revision - a.revision)
      .slice(0, MAX_ROWS)
      .map(({ rs, revision }) => {
        // Anyone who can annotate the cluster writes change-cause: shown as text, never as mrkdwn.
        const cause = slackText(rs.annotations[CHANGE_CAUSE_ANNOTATION] ?? '<none>');
        const marker = revision === current ? ' ← current' : '';
        return `\`${revision}\` ${imagesOf(rs.template).join(', ')} · ${cause} · ${age(rs.createdAt, now)}${marker}`;
      });
    return {
      outcome: 'executed',
      message: message(
        `${args.deployment} in ${args.env}: ${rows.length} revisions, current ${current ?? '?'}`,
        {
          lines: [
            `:scroll: *${args.deployment}* in *${args.env}*: revision · image · change-cause · age`,
            ...rows,
          ],
        },
      ),
      audit: { target: args.deployment, namespace: target.namespace, environment: args.env },
    };
  },
});
