import type { Runbook } from '../src/core/runbook.js';
import type { CommandModule } from '../src/engine/command-module.js';
import { envClose } from './env-close.js';
import { envExtend } from './env-extend.js';
import { envList } from './env-list.js';
import { envOpen } from './env-open.js';
import { help } from './help.js';
import { history } from './history.js';
import { incidentDeclare } from './incident-declare.js';
import { incidentResolve } from './incident-resolve.js';
import { restart } from './restart.js';
import { rollback } from './rollback.js';
import { createRunCommand } from './run.js';
import { scale } from './scale.js';
import { status } from './status.js';
import { whoami } from './whoami.js';

/** Every /ops verb, registered by hand so that what the bot can do is visible in one place. */
export const commands: readonly CommandModule[] = [
  help,
  whoami,
  status,
  history,
  rollback,
  restart,
  scale,
  envOpen,
  envExtend,
  envClose,
  envList,
  incidentDeclare,
  incidentResolve,
];

/** The registry plus `/ops run`, which needs the runbooks loaded at start-up. */
export function withRunbooks(runbooks: readonly Runbook[]): readonly CommandModule[] {
  return [...commands, createRunCommand(runbooks) as CommandModule];
}
