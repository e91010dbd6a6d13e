import { z } from 'zod';
import type { OpsbotConfig } from '../src/config/schema.js';
import { parseDuration } from '../src/core/duration.js';
import { PermissionError, UserInputError } from '../src/core/errors.js';
import { authorize } from '../src/core/policy.js';
import {
  PREVIEW_SELECTOR,
  type PreviewEnv,
  previewFromNamespace,
  previewNamespace,
} from '../src/core/preview.js';
import { mention } from '../src/engine/audit-records.js';
import { commandsWith, type RunContext, type Scope } from '../src/engine/command-module.js';
import type { ClusterTarget } from '../src/ports.js';
import type { PreviewServices } from '../src/preview/services.js';

export type PreviewConfig = NonNullable<OpsbotConfig['preview']>;

/** A --ttl flag as typed: "8h", "90m"; checked against maxTtl in the ack. */
export const TtlText = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration such as "4h", "90m" or "2d"' });
    return z.NEVER;
  }
  return ms;
});

export function previewConfig(config: OpsbotConfig): PreviewConfig {
  if (!config.preview) {
    throw new UserInputError(
      'Preview environments are not set up here (opsbot.yml has no preview: section).',
    );
  }
  return config.preview;
}

/** Read before validation, for the permission check: previews live in the environment that governs them. */
export function previewEnvironmentOf(_input: unknown, config: OpsbotConfig): string | undefined {
  return config.preview?.environment;
}

/** Every env command acts in the environment that governs previews, so its grants apply. */
export function previewScope(args: { name?: string | undefined }, config: OpsbotConfig): Scope {
  return {
    environment: previewConfig(config).environment,
    ...(args.name ? { target: args.name } : {}),
  };
}

/** The env commands run with the preview feature's services: namespaces, templates, pull requests. */
export const definePreviewCommand = commandsWith<PreviewServices>();
type PreviewContext = RunContext<PreviewServices>;

export function previewTarget(ctx: PreviewContext): { cfg: PreviewConfig; target: ClusterTarget } {
  const cfg = previewConfig(ctx.config);
  return { cfg, target: ctx.target(cfg.environment) };
}

/** Every preview opsbot made, read from the cluster's labels. */
export async function livePreviews(ctx: PreviewContext): Promise<PreviewEnv[]> {
  const { target } = previewTarget(ctx);
  const namespaces = await ctx.services.workspaces.listNamespaces(target.context, PREVIEW_SELECTOR);
  return namespaces.flatMap((ns) => previewFromNamespace(ns) ?? []);
}

export async function findPreview(ctx: PreviewContext, name: string): Promise<PreviewEnv | undefined> {
  const { target } = previewTarget(ctx);
  const ns = await ctx.services.workspaces.getNamespace(target.context, previewNamespace(name));
  return ns ? previewFromNamespace(ns) : undefined;
}

/** The owner may act on their own preview; anyone else needs env.close-any in the preview environment. */
export async function assertMayManage(ctx: PreviewContext, env: PreviewEnv, verb: string): Promise<void> {
  const requester = ctx.job.requester;
  if (env.owner === requester.id) return;
  const { cfg } = previewTarget(ctx);
  const groups = await ctx.services.directory.groupsOf(requester.id);
  const decision = authorize(
    ctx.config,
    { userId: requester.id, groups, channel: ctx.job.channel },
    'env.close-any',
    cfg.environment,
  );
  if (!decision.allowed) {
    const owner = mention({ id: env.owner, ...(env.ownerName ? { name: env.ownerName } : {}) });
    throw new PermissionError(
      `${env.name} belongs to ${owner}; to ${verb} someone else's preview you need env.close-any in ${cfg.environment}.`,
    );
  }
}

export function timeLeft(expiresAt: number, now: number): string {
  const ms = expiresAt - now;
  if (ms <= 0) return 'expired';
  const minutes = Math.round(ms / 60_000);
  if (minutes < 120) return `${minutes}m left`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m left`;
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
