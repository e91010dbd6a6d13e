import type { CommandModule } from '../src/engine/command-module.js';
import { help } from './help.js';
import { history } from './history.js';
import { pause } from './pause.js';
import { restart } from './restart.js';
import { resume } from './resume.js';
import { rollback } from './rollback.js';
import { scale } from './scale.js';
import { status } from './status.js';
import { whoami } from './whoami.js';

/**
 * The cluster verbs, registered by hand: one line each. A verb with `step` is a runbook step kind
 * too. The features' verbs (env, incident, run) are registered in their features (src/features.ts).
 */
export const commands: readonly CommandModule[] = [
  help,
  whoami,
  status,
  history,
  rollback,
  restart,
  scale,
  pause,
  resume,
];
