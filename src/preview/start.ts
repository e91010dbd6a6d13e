import { isoTime, timeLeft } from '../../commands/env-shared.js';
import { message } from '../core/message.js';
import { PREVIEW_SELECTOR, PreviewName, previewFromNamespace, previewNamespace } from '../core/preview.js';
import { resolveTarget } from '../engine/run-command.js';
import { GitHubPullRequests } from '../github/pull-requests.js';
import { KubeWorkspaces } from '../kubernetes/workspaces.js';
import type { FeatureHandle, Runtime } from '../runtime.js';
import { reapPreviews } from './reaper.js';
import type { PreviewServices } from './services.js';
import { loadTemplateDir } from './template-files.js';

export const REAPER_QUEUE = 'preview-reaper';

/**
 * Starts preview environments: the env commands' services (namespaces, templates, pull
 * requests), the reaper as a fleet-wide scheduled job (one pass every `preview.reapEvery`, on one
 * worker), and the Extend button of the expiry warning.
 */
export async function startPreview(runtime: Runtime): Promise<FeatureHandle<PreviewServices>> {
  const cfg = runtime.config.preview;
  if (!cfg) throw new Error('the preview feature started without preview: in opsbot.yml');
  const log = runtime.log.child({ component: 'preview-reaper' });
  const workspaces = new KubeWorkspaces(await runtime.kubeconfig());
  if (runtime.workers) {
    const deps = {
      config: runtime.config,
      workspaces,
      chat: runtime.chat,
      jobs: runtime.jobs,
      clock: runtime.clock,
      log,
    };
    await runtime.backend.every(REAPER_QUEUE, cfg.reapEvery, async () => {
      try {
        const result = await reapPreviews(deps);
        if (result.expired.length + result.warned.length > 0) log.info(result, 'preview reaper pass');
      } catch (err) {
        log.warn({ err }, 'preview reaper pass failed; the next one retries');
      }
    });
  }
  return {
    services: {
      workspaces,
      pullRequests: runtime.octokit ? new GitHubPullRequests(runtime.octokit) : undefined,
      directory: runtime.directory,
      loadTemplate: (dir) => loadTemplateDir(dir, runtime.configFile),
    },
    // The Home tab lists the user's own previews, each with its expiry and an Extend button.
    async home(user) {
      const target = resolveTarget(runtime.config, cfg.environment);
      const now = runtime.clock.now();
      const mine = (await workspaces.listNamespaces(target.context, PREVIEW_SELECTOR))
        .flatMap((ns) => previewFromNamespace(ns) ?? [])
        .filter((e) => e.owner === user.id && !e.terminating)
        .sort((a, b) => a.expiresAt - b.expiresAt);
      const title = '*Your preview environments*';
      if (mine.length === 0)
        return message('No preview environments', {
          lines: [title, 'None open. `/ops env open <name>` opens one.'],
        });
      return message(`${mine.length} preview environments`, {
        lines: [
          title,
          ...mine.map(
            (e) =>
              `• *${e.name}* ${e.url ?? ''} · expires ${isoTime(e.expiresAt)} (${timeLeft(e.expiresAt, now)})`,
          ),
        ],
        // Past Slack's 25 elements of an actions block the list is longer than any maxPerUser allows.
        buttons: mine
          .slice(0, 25)
          .map((e) => ({ action: 'preview.extend', label: `Extend ${e.name}`, value: e.name })),
      });
    },
    buttons: [
      {
        // The Extend button of an expiry warning: `/ops env extend <name>` by the clicker, with every
        // check a typed one gets. The value is the preview's name, nothing more.
        action: 'preview.extend',
        async handle(click) {
          const name = PreviewName.safeParse(click.value);
          if (!name.success) return message('That Extend button does not name a preview environment.');
          // A click in the Home tab has no channel: the outcome goes where the preview was opened.
          let channelId = click.channelId;
          if (!channelId) {
            const target = resolveTarget(runtime.config, cfg.environment);
            const ns = await workspaces.getNamespace(target.context, previewNamespace(name.data));
            channelId = (ns && previewFromNamespace(ns)?.channel) || '';
          }
          if (!channelId) return message(`There is no open preview environment named ${name.data}.`);
          const ack = await runtime.accept({
            text: `env extend ${name.data}`,
            requester: click.user,
            channel: { id: channelId },
            deliveryId: `preview-extend/${click.deliveryId}`,
          });
          return ack.message;
        },
      },
    ],
  };
}
