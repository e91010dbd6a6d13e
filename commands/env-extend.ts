import { formatDuration } from '../src/core/duration.js';
import { defineArgs } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import {
  ANNOTATIONS,
  checkTtl,
  extendedExpiry,
  LABELS,
  PreviewName,
  previewNamespace,
} from '../src/core/preview.js';
import type { Outcome } from '../src/engine/command-module.js';
import {
  assertMayManage,
  definePreviewCommand,
  findPreview,
  isoTime,
  previewConfig,
  previewEnvironmentOf,
  previewScope,
  previewTarget,
  TtlText,
} from './env-shared.js';

/** The expiry label holds whole seconds. */
const sameSecond = (a: number, b: number) => Math.floor(a / 1000) === Math.floor(b / 1000);

const parse = defineArgs({ positionals: { name: PreviewName }, flags: { ttl: TtlText.optional() } });

export const envExtend = definePreviewCommand({
  name: 'env extend',
  summary: 'Keep a preview environment longer (by the default TTL unless --ttl says)',
  usage: '/ops env extend <name> [--ttl 4h]',
  action: 'env.extend',
  parse,
  environmentOf: previewEnvironmentOf,
  scope: previewScope,
  check(config, args) {
    const cfg = previewConfig(config);
    checkTtl(args.ttl ?? cfg.ttl, cfg);
  },

  async run(ctx, args): Promise<Outcome> {
    const { cfg, target } = previewTarget(ctx);
    const namespace = previewNamespace(args.name);
    const audit = { target: args.name, namespace, environment: cfg.environment };
    const env = await findPreview(ctx, args.name);
    if (!env || env.terminating) {
      const text = `There is no open preview environment "${args.name}" to extend.`;
      return { outcome: 'noop', message: message(text, { lines: [`:grey_question: ${text}`] }), audit };
    }
    await assertMayManage(ctx, env, 'extend');
    const ttl = args.ttl ?? cfg.ttl;
    const now = ctx.clock.now();
    // The intent: the new expiry, chosen once. A retry after the label was written must not extend twice.
    let intent = ctx.checkpoint.get<{ from: number; to: number }>('intent');
    const resumed = intent !== undefined && sameSecond(env.expiresAt, intent.to);
    if (intent === undefined) {
      intent = { from: env.expiresAt, to: extendedExpiry(env.expiresAt, now, ttl, cfg.maxTtl) };
      await ctx.checkpoint.set('intent', intent);
    }
    const next = intent.to;
    if (!resumed) {
      ctx.failpoint('before-patch');
      await ctx.services.workspaces.patchNamespace(target.context, namespace, {
        labels: { [LABELS.expiresAt]: String(Math.floor(next / 1000)) },
        annotations: { [ANNOTATIONS.warnedFor]: null },
      });
      ctx.failpoint('after-patch');
    }
    const text = `Extended preview ${args.name} by ${formatDuration(ttl)}: it now expires at ${isoTime(next)}.`;
    return {
      outcome: 'executed',
      resumed,
      message: message(text, {
        lines: [
          `:alarm_clock: Extended preview *${args.name}* by ${formatDuration(ttl)}: expires ${isoTime(next)} (in ${formatDuration(next - now)}), was ${isoTime(intent.from)}.`,
        ],
      }),
      audit: {
        ...audit,
        args: { ttl: formatDuration(ttl), from: isoTime(intent.from), to: isoTime(next), owner: env.owner },
      },
    };
  },

  async verify(ctx, args) {
    const intent = ctx.checkpoint.get<{ from: number; to: number }>('intent');
    if (intent === undefined) return undefined;
    const env = await findPreview(ctx, args.name);
    return env && sameSecond(env.expiresAt, intent.to) ? 'applied' : 'not-applied';
  },
});
