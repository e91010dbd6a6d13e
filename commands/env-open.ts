import { z } from 'zod';
import { formatDuration } from '../src/core/duration.js';
import { OpsError, StateError, UserInputError, userMessageOf } from '../src/core/errors.js';
import { defineArgs, PositiveIntText } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import {
  checkOpenLimits,
  checkTtl,
  GitRef,
  LABELS,
  MANAGED_BY,
  PreviewName,
  previewAnnotations,
  previewLabels,
  previewNamespace,
  tagForRef,
} from '../src/core/preview.js';
import { type Manifest, renderHost, renderTemplate } from '../src/core/preview-template.js';
import { escapeGitHub } from '../src/core/text.js';
import { mention } from '../src/engine/audit-records.js';
import type { Outcome } from '../src/engine/command-module.js';
import { type RolloutResult, rolloutLine, watchRollout } from '../src/engine/watch-rollout.js';
import {
  assertMayManage,
  definePreviewCommand,
  findPreview,
  isoTime,
  livePreviews,
  type PreviewConfig,
  previewConfig,
  previewEnvironmentOf,
  previewScope,
  previewTarget,
  TtlText,
} from './env-shared.js';

const parse = defineArgs({
  positionals: { name: PreviewName },
  flags: { ref: GitRef.optional(), pr: PositiveIntText.optional(), ttl: TtlText.optional() },
});
type Args = ReturnType<typeof parse>;

function checkArgs(cfg: PreviewConfig, args: Args): void {
  if (args.ref !== undefined && args.pr !== undefined)
    throw new UserInputError('Give either --ref or --pr, not both.');
  if (args.pr !== undefined && !cfg.repo) {
    throw new UserInputError('--pr needs preview.repo in opsbot.yml: the repository the pull request is in.');
  }
  if (args.ref !== undefined) tagForRef(args.ref);
  checkTtl(args.ttl ?? cfg.ttl, cfg);
}

interface Head {
  sha: string;
  ref: string;
}

/** A half-made open is never left silently: say what failed and what was done about it. */
function applyFailure(err: unknown, namespace: string, cleanedUp: boolean): OpsError {
  const retryable = err instanceof OpsError ? err.retryable : true;
  const code = err instanceof OpsError ? err.code : 'external_unavailable';
  const after = cleanedUp
    ? `The half-made namespace ${namespace} was deleted again, so nothing is left behind.`
    : `The previous version of ${namespace} is still there.`;
  return new OpsError(
    code,
    `Applying the preview template to ${namespace} failed: ${userMessageOf(err)} ${after}`,
    {
      retryable,
      cause: err,
    },
  );
}

export const envOpen = definePreviewCommand({
  name: 'env open',
  summary: 'Open (or update) a preview environment from a branch or pull request',
  usage: '/ops env open <name> [--ref <git ref> | --pr <number>] [--ttl 8h]',
  action: 'env.open',
  parse,
  environmentOf: previewEnvironmentOf,
  scope: previewScope,
  check: (config, args) => checkArgs(previewConfig(config), args),

  async run(ctx, args): Promise<Outcome> {
    const services = ctx.services;
    const { cfg, target } = previewTarget(ctx);
    checkArgs(cfg, args);
    const namespace = previewNamespace(args.name);
    const requester = ctx.job.requester;
    const where = { ...target, namespace };

    const existing = await findPreview(ctx, args.name);
    // The intent, saved before the first write: whether the namespace was there before this job.
    // A retry reads it back, so a namespace this job made is never mistaken for someone else's.
    const intent = ctx.checkpoint.get<{ existedBefore: boolean }>('intent');
    const madeByThisJob = intent !== undefined && !intent.existedBefore;
    if (!existing && !madeByThisJob) {
      const foreign = await services.workspaces.getNamespace(target.context, namespace);
      if (foreign) {
        throw new StateError(
          'conflict',
          `Namespace ${namespace} exists but was not made by opsbot; pick another name.`,
        );
      }
    }
    if (existing?.terminating) {
      throw new StateError('conflict', `${namespace} is still being deleted; try again in a minute.`, {
        retryable: true,
      });
    }
    if (existing && !madeByThisJob) await assertMayManage(ctx, existing, 'update');
    // Updating someone else's preview (with env.close-any) leaves it theirs.
    const owner = existing ? { id: existing.owner, name: existing.ownerName } : requester;
    const updating = intent ? intent.existedBefore : Boolean(existing);

    let head = ctx.checkpoint.get<Head>('head');
    if (args.pr !== undefined && !head) {
      if (!services.pullRequests)
        throw new UserInputError('--pr needs GitHub access, and opsbot has no GitHub token.');
      const pr = await services.pullRequests.head(cfg.repo ?? '', args.pr);
      if (pr.state !== 'open') throw new UserInputError(`Pull request #${args.pr} is ${pr.state}, not open.`);
      head = { sha: pr.sha, ref: pr.ref };
      await ctx.checkpoint.set('head', head);
    }
    const tag = head ? head.sha : args.ref !== undefined ? tagForRef(args.ref) : cfg.defaultTag;
    const ref = head?.ref ?? args.ref;
    const ttl = args.ttl ?? cfg.ttl;
    let expiresAt = ctx.checkpoint.get<number>('expiresAt');
    if (expiresAt === undefined) {
      expiresAt = ctx.clock.now() + ttl;
      await ctx.checkpoint.set('expiresAt', expiresAt);
    }

    // Everything that can be refused is checked before the cluster is touched.
    const host = renderHost(cfg.host, { name: args.name, owner: owner.id });
    const url = `https://${host}`;
    const manifests: Manifest[] = renderTemplate(await services.loadTemplate(cfg.template), {
      name: args.name,
      namespace,
      tag,
      host,
      owner: owner.id,
      ...(cfg.image ? { image: `${cfg.image}:${tag}` } : {}),
    }).map((m) => ({
      ...m,
      metadata: { ...m.metadata, labels: { ...asLabels(m.metadata.labels), [LABELS.managedBy]: MANAGED_BY } },
    }));

    const meta = {
      name: args.name,
      owner,
      expiresAt,
      ref,
      pr: args.pr,
      channel: ctx.job.channel.id,
      url,
    };
    // One open per owner at a time, so two simultaneous opens cannot both pass the per-person limit.
    const ownerLock = await ctx.lock?.(
      `preview-owner/${owner.id}`,
      `env open ${args.name} by ${mention(requester)} (job ${ctx.job.id})`,
    );
    if (ownerLock && !ownerLock.acquired) {
      throw new StateError('busy', `waiting behind ${ownerLock.heldBy}`, { retryable: true });
    }
    try {
      checkOpenLimits(await livePreviews(ctx), { name: args.name, owner: owner.id }, cfg);
      if (!intent) await ctx.checkpoint.set('intent', { existedBefore: Boolean(existing) });
      ctx.failpoint('before-patch');
      const nsMeta = { labels: previewLabels(meta), annotations: previewAnnotations(meta) };
      // A namespace that is there (ours from before, or made by an earlier attempt) is updated, never created again.
      if (existing) await services.workspaces.patchNamespace(target.context, namespace, nsMeta);
      else await services.workspaces.upsertNamespace(target.context, namespace, nsMeta);
    } finally {
      await ownerLock?.release().catch(() => undefined);
    }
    const ours = !updating;
    const verb = updating ? 'Updating' : 'Opening';
    await ctx.progress(
      message(`${verb} preview ${args.name}…`, {
        lines: [`:hourglass: ${verb} preview *${args.name}* in namespace \`${namespace}\` (tag \`${tag}\`)…`],
      }),
    );
    try {
      await services.workspaces.apply(target.context, manifests);
    } catch (err) {
      if (ours) await services.workspaces.deleteNamespace(target.context, namespace);
      // Retried from scratch: the namespace this job made is gone again.
      if (ours) await ctx.checkpoint.set('intent', undefined);
      throw applyFailure(err, namespace, ours);
    }
    ctx.failpoint('after-patch');

    if (args.pr !== undefined && services.pullRequests && !ctx.checkpoint.get('commented')) {
      await services.pullRequests.comment(
        cfg.repo ?? '',
        args.pr,
        [
          `:rocket: Preview environment **${args.name}** is up: ${url}`,
          '',
          `Image tag \`${tag}\` · expires ${isoTime(expiresAt)} · opened by ${escapeGitHub(mention(requester))} with opsbot.`,
        ].join('\n'),
      );
      await ctx.checkpoint.set('commented', true);
    }

    const source =
      args.pr !== undefined ? `PR #${args.pr} (${tag.slice(0, 12)})` : ref ? `ref ${ref}` : `tag ${tag}`;
    const header = [
      `:rocket: Preview *${args.name}* ${updating ? 'updated' : 'opened'} from ${source}: ${url}`,
      `Namespace \`${namespace}\` · ${manifests.length} objects applied · expires ${isoTime(expiresAt)} (in ${formatDuration(expiresAt - ctx.clock.now())})`,
    ];
    const rollouts: { name: string; result: RolloutResult }[] = [];
    for (const m of manifests.filter((x) => x.kind === 'Deployment')) {
      const name = String(m.metadata.name);
      rollouts.push({ name, result: await watchRollout(ctx, where, name, header) });
    }
    const worst = rollouts.find((r) => r.result.state !== 'complete') ?? rollouts[0];
    const state = worst ? `; rollout ${worst.result.state}` : '';
    return {
      outcome: 'executed',
      message: message(`${updating ? 'Updated' : 'Opened'} preview ${args.name}: ${url}${state}`, {
        lines: [
          ...header,
          ...rollouts.map((r) => `${r.name}: ${rolloutLine(r.result)}`),
          `Extend with \`/ops env extend ${args.name} --ttl 4h\`, close with \`/ops env close ${args.name}\`.`,
        ],
      }),
      audit: {
        target: args.name,
        namespace,
        environment: cfg.environment,
        args: {
          ...(ref ? { ref } : {}),
          ...(args.pr !== undefined ? { pr: args.pr } : {}),
          tag,
          ttl: formatDuration(ttl),
          expiresAt: isoTime(expiresAt),
          url,
          updated: updating,
        },
        ...(worst ? { rollout: worst.result } : {}),
      },
      // Undone by closing it; an update of one that was open before has no earlier state kept.
      reversal: updating
        ? {
            kind: 'irreversible',
            why: 'it updated a preview that was already open; its earlier objects were not kept',
            nearest: `/ops env close ${args.name}`,
          }
        : { kind: 'env.open', environment: cfg.environment, name: args.name },
    };
  },

  async verify(ctx, args) {
    if (ctx.checkpoint.get('intent') === undefined) return undefined;
    const env = await findPreview(ctx, args.name);
    return env && !env.terminating ? 'applied' : 'not-applied';
  },
});

function asLabels(value: unknown): Record<string, string> {
  const parsed = z.record(z.string(), z.string()).safeParse(value);
  return parsed.success ? parsed.data : {};
}
