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
import { defineCommand, type Outcome } from '../src/engine/command-module.js';
import {
  assertMayManage,
  findPreview,
  isoTime,
  previewConfig,
  previewEnvironmentOf,
  previewScope,
  previewTarget,
  servicesOf,
  TtlText,
} from './env-shared.js';

const parse = defineArgs({ positionals: { name: PreviewName }, flags: { ttl: TtlText.optional() } });

export const envExtend = defineCommand({
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
    // A retry after the label was written must not extend twice.
    let next = ctx.checkpoint.get<number>('expiresAt');
    if (next === undefined) {
      next = extendedExpiry(env.expiresAt, now, ttl, cfg.maxTtl);
      await ctx.checkpoint.set('expiresAt', next);
    }
    await servicesOf(ctx).workspaces.patchNamespace(target.context, namespace, {
      labels: { [LABELS.expiresAt]: String(Math.floor(next / 1000)) },
      annotations: { [ANNOTATIONS.warnedFor]: null },
    });
    const text = `Extended preview ${args.name} by ${formatDuration(ttl)}: it now expires at ${isoTime(next)}.`;
    return {
      outcome: 'executed',
      message: message(text, {
        lines: [
          `:alarm_clock: Extended preview *${args.name}* by ${formatDuration(ttl)}: expires ${isoTime(next)} (in ${formatDuration(next - now)}), was ${isoTime(env.expiresAt)}.`,
        ],
      }),
      audit: {
        ...audit,
        args: { ttl: formatDuration(ttl), from: isoTime(env.expiresAt), to: isoTime(next), owner: env.owner },
      },
    };
  },
});
