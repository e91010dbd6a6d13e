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
import { irreversibleReason, type LedgerEntry, stepsOf } from '../src/core/undo.js';
import { defineCommand } from '../src/engine/command-module.js';
import { age, deploymentArg, readFlags } from './shared.js';

const parse = defineArgs({ positionals: deploymentArg, flags: readFlags });
const MAX_ROWS = 20;
const MAX_ACTIONS = 10;

export const history = defineCommand({
  name: 'history',
  summary:
    'Revisions of a deployment with image, change-cause and age, as kubectl rollout history shows them, and the changes opsbot made to it with their record ids',
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
    const key = `${args.env}/${args.deployment}`;
    const actions = ((await ctx.ledger?.recent(key, MAX_ACTIONS)) ?? []).map(
      (entry) => `\`${entry.recordId}\` ${slackText(summaryOf(entry, key))} · ${age(entry.time, now)}`,
    );
    return {
      outcome: 'executed',
      message: message(
        `${args.deployment} in ${args.env}: ${rows.length} revisions, current ${current ?? '?'}; ${actions.length} opsbot actions`,
        {
          lines: [
            `:scroll: *${args.deployment}* in *${args.env}*: revision · image · change-cause · age`,
            ...rows,
            actions.length
              ? '*opsbot actions*, newest first: record · what · who · age (`/ops undo <record>` reverses one)'
              : '_No opsbot actions recorded on it._',
            ...actions,
          ],
        },
      ),
      audit: { target: args.deployment, namespace: target.namespace, environment: args.env },
    };
  },
});

/** One line per recorded action: what it did to this deployment, by whom. */
function summaryOf(entry: LedgerEntry, key: string): string {
  const by = entry.requester.name ? `@${entry.requester.name}` : entry.requester.id;
  const parts = stepsOf(entry.reversal).flatMap(({ reversal: r }) => {
    if (!('deployment' in r) || `${r.environment}/${r.deployment}` !== key) return [];
    if (r.kind === 'rollback')
      return [`from revision ${r.revision} (${r.images.join(', ')}) to ${r.after.images.join(', ')}`];
    if (r.kind === 'scale') return [`replicas ${r.from} → ${r.to}`];
    return [r.paused ? 'paused' : 'resumed'];
  });
  const what = entry.action === 'run' ? `run ${entry.target ?? ''}`.trim() : entry.action;
  const undoes = entry.undoes ? ` of record ${entry.undoes}` : '';
  const irreversible = irreversibleReason(entry.reversal) ? ' (cannot be undone)' : '';
  return `${what}${undoes}${parts.length ? `: ${parts.join('; ')}` : ''} by ${by}${irreversible}`;
}
