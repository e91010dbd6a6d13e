import { type UndoServices, undo } from '../../commands/undo.js';
import { defineFeature } from '../runtime.js';

/**
 * `/ops undo <record-id>`: reverses a recorded change with the commands that made it (rollback,
 * scale, pause, resume, env close), bound to their own features, so an undo checks, locks, plans
 * and records exactly as those commands do.
 */
export const undoFeature = defineFeature<UndoServices>({
  name: 'undo',
  enabled: () => true,
  off: '',
  commands: [undo],
  start: async (runtime) => ({ services: { commands: () => runtime.commands() } }),
});
