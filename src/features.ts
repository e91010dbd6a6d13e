import { commands as clusterCommands } from '../commands/index.js';
import { incidentsFeature } from './alerts/feature.js';
import type { CommandModule } from './engine/command-module.js';
import { previewFeature } from './preview/feature.js';
import { runbooksFeature } from './runbooks/feature.js';
import { defineFeature, type Feature } from './runtime.js';
import { undoFeature } from './undo/feature.js';

/** The cluster verbs (status, rollback, restart, scale, pause…): always on, with no services of their own. */
export const clusterFeature = defineFeature<undefined>({
  name: 'cluster',
  enabled: () => true,
  off: '',
  commands: clusterCommands,
  start: async () => ({ services: undefined }),
});

/** Every feature, registered by hand: one line each. */
export const features: readonly Feature[] = [
  clusterFeature,
  runbooksFeature,
  previewFeature,
  incidentsFeature,
  undoFeature,
];

/** Every command of every feature, on or off: what help, config validation and runbooks know of. */
export function registeredCommands(): CommandModule[] {
  return features.flatMap((f) => f.commands as readonly CommandModule[]);
}

/** Every permission a role can be granted: each command's action, and the ones commands check besides. */
export function knownActions(): string[] {
  const actions = registeredCommands().flatMap((c) => [
    ...(c.action ? [c.action] : []),
    ...(c.permissions ?? []),
  ]);
  return [...new Set(actions)];
}
