import type { RunbookServices } from '../../commands/run.js';
import { run } from '../../commands/run.js';
import { defineFeature } from '../runtime.js';
import { stepKinds } from './steps/index.js';

/**
 * Runbooks: `/ops run <runbook>`, step by step. The runbooks are loaded and checked at start-up
 * (runtime.runbooks); their step kinds are the registry's commands with `step`, bound to their
 * features' services, beside the runbook-only kinds.
 */
export const runbooksFeature = defineFeature<RunbookServices>({
  name: 'runbooks',
  enabled: () => true,
  off: '',
  commands: [run],
  async start(runtime) {
    let kinds: ReturnType<typeof stepKinds> | undefined;
    return {
      services: {
        runbooks: runtime.runbooks,
        // Built when first used: every feature's commands are bound by then.
        get kinds() {
          kinds ??= stepKinds(runtime.commands());
          return kinds;
        },
      },
    };
  },
});
