import { defineArgs } from '../src/core/grammar.js';
import { message } from '../src/core/message.js';
import { PreviewName, previewNamespace } from '../src/core/preview.js';
import type { Outcome } from '../src/engine/command-module.js';
import {
  assertMayManage,
  definePreviewCommand,
  findPreview,
  isoTime,
  livePreviews,
  previewConfig,
  previewEnvironmentOf,
  previewScope,
  previewTarget,
} from './env-shared.js';

const parse = defineArgs({ positionals: { name: PreviewName }, flags: {} });

export const envClose = definePreviewCommand({
  name: 'env close',
  summary: 'Close a preview environment: its namespace and everything in it are deleted',
  usage: '/ops env close <name>',
  action: 'env.close',
  // Closing or extending someone else's preview (checked in env-shared.ts assertMayManage).
  permissions: ['env.close-any'],
  parse,
  environmentOf: previewEnvironmentOf,
  scope: previewScope,
  check: (config) => void previewConfig(config),

  async run(ctx, args): Promise<Outcome> {
    const { cfg, target } = previewTarget(ctx);
    const namespace = previewNamespace(args.name);
    const audit = { target: args.name, namespace, environment: cfg.environment };
    const env = await findPreview(ctx, args.name);
    // The intent, saved before the delete: whose preview this job is closing, until when it was due.
    const intent = ctx.checkpoint.get<{ owner: string; expiresAt: number }>('intent');
    const closed = (resumed: boolean): Outcome => {
      const text = `Closed preview ${args.name}: namespace ${namespace} deleted.`;
      return {
        outcome: 'executed',
        resumed,
        message: message(text, {
          lines: [
            `:wastebasket: Closed preview *${args.name}*: namespace \`${namespace}\` and everything in it deleted.`,
          ],
        }),
        audit: {
          ...audit,
          args: {
            owner: intent?.owner ?? env?.owner,
            expiresAt: isoTime(intent?.expiresAt ?? env?.expiresAt ?? 0),
          },
        },
        reversal: {
          kind: 'irreversible',
          why: 'closing deleted the namespace and everything in it',
          nearest: `/ops env open ${args.name}`,
        },
      };
    };
    if (intent && (!env || env.terminating)) return closed(true);
    if (!env || env.terminating) {
      const open = (await livePreviews(ctx)).filter((e) => !e.terminating).map((e) => e.name);
      const text = env
        ? `Preview ${args.name} is already being deleted; nothing to do.`
        : `There is no preview environment "${args.name}"; nothing was closed.`;
      return {
        outcome: 'noop',
        message: message(text, {
          lines: [
            `:grey_question: ${text}`,
            open.length ? `Open previews: ${open.join(', ')}.` : 'No previews are open.',
          ],
        }),
        audit,
      };
    }
    await assertMayManage(ctx, env, 'close');
    if (!intent) await ctx.checkpoint.set('intent', { owner: env.owner, expiresAt: env.expiresAt });
    ctx.failpoint('before-patch');
    await ctx.services.workspaces.deleteNamespace(target.context, namespace);
    ctx.failpoint('after-patch');
    return closed(false);
  },

  async verify(ctx, args) {
    if (ctx.checkpoint.get('intent') === undefined) return undefined;
    const env = await findPreview(ctx, args.name);
    return !env || env.terminating ? 'applied' : 'not-applied';
  },
});
