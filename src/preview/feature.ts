import { envClose } from '../../commands/env-close.js';
import { envExtend } from '../../commands/env-extend.js';
import { envList } from '../../commands/env-list.js';
import { envOpen } from '../../commands/env-open.js';
import { defineFeature } from '../runtime.js';
import type { PreviewServices } from './services.js';

/** Preview environments: `/ops env open|extend|close|list`, and a reaper. On when opsbot.yml has `preview:`. */
export const previewFeature = defineFeature<PreviewServices>({
  name: 'preview',
  enabled: (config) => Boolean(config.preview),
  off: 'Preview environments are not set up here (opsbot.yml has no preview: section).',
  commands: [envOpen, envExtend, envClose, envList],
  // Loaded only when turned on.
  start: async (runtime) => (await import('./start.js')).startPreview(runtime),
});
