import { z } from 'zod';
import { defineArgs } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import type { Outcome } from '../src/engine/command-module.js';
import {
  definePreviewCommand,
  isoTime,
  livePreviews,
  previewConfig,
  previewEnvironmentOf,
  previewScope,
  previewTarget,
  timeLeft,
} from './env-shared.js';

const parse = defineArgs({ positionals: {}, flags: { mine: z.literal(true).optional() } });

export const envList = definePreviewCommand({
  name: 'env list',
  summary: 'List open preview environments (yours only with --mine)',
  usage: '/ops env list [--mine]',
  action: 'env.list',
  parse,
  environmentOf: previewEnvironmentOf,
  scope: (_args, config) => previewScope({}, config),
  check: (config) => void previewConfig(config),

  async run(ctx, args): Promise<Outcome> {
    const { cfg } = previewTarget(ctx);
    const now = ctx.clock.now();
    const all = (await livePreviews(ctx))
      .filter((e) => !e.terminating)
      .filter((e) => !args.mine || e.owner === ctx.job.requester.id)
      .sort((a, b) => a.expiresAt - b.expiresAt);
    const whose = args.mine ? 'your' : 'open';
    const text =
      all.length === 0
        ? `No ${whose} preview environments.`
        : `${all.length} ${whose} preview environment${all.length === 1 ? '' : 's'}.`;
    return {
      outcome: 'noop',
      message: message(text, {
        lines: [
          `:card_index: ${text}`,
          ...all.map((e) => {
            const from = e.pr !== undefined ? ` · PR #${e.pr}` : e.ref ? ` · ${e.ref}` : '';
            return `• *${e.name}* — <@${e.owner}>${from} · ${e.url ?? ''} · expires ${isoTime(e.expiresAt)} (${timeLeft(e.expiresAt, now)})`;
          }),
        ],
      }),
      audit: { environment: cfg.environment, args: { count: all.length, mine: Boolean(args.mine) } },
    };
  },
});
