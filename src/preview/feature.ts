import { KubeWorkspaces } from '../kubernetes/workspaces.js';
import type { Clock } from '../ports.js';
import type { Feature, FeatureHandle, Runtime } from '../runtime.js';
import { reapPreviews } from './reaper.js';

export const REAPER_QUEUE = 'preview-reaper';

/** The reaper as a fleet-wide scheduled job: one pass every `preview.reapEvery`, on one worker. */
export function previewFeature(clock?: Clock): Feature {
  return {
    name: 'preview',
    async start(runtime: Runtime): Promise<FeatureHandle> {
      const cfg = runtime.config.preview;
      if (!cfg) return {};
      const log = runtime.log.child({ component: 'preview-reaper' });
      const deps = {
        config: runtime.config,
        workspaces: new KubeWorkspaces(runtime.kubeconfig),
        chat: runtime.chat,
        jobs: runtime.jobs,
        clock: clock ?? runtime.clock,
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
      return {};
    },
  };
}

export const preview: Feature = previewFeature();
