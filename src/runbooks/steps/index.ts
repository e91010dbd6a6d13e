import type { CommandModule } from '../../engine/command-module.js';
import { approvalStep } from './approval.js';
import { commandStep } from './command-step.js';
import { httpCheck } from './http-check.js';
import { messageStep } from './message.js';
import type { StepKind } from './step-kind.js';
import { waitForRollout } from './wait-for-rollout.js';

/** The step kinds only runbooks have, registered by hand. */
const RUNBOOK_ONLY: readonly StepKind[] = [waitForRollout, httpCheck, messageStep, approvalStep];

/**
 * Every step kind a runbook may use: each command that declares `step`, in registry order, then
 * the runbook-only kinds. A verb added to the registry is a step kind at once.
 */
export function stepKinds(commands: readonly CommandModule[]): StepKind[] {
  return [...commands.filter((c) => c.step).map(commandStep), ...RUNBOOK_ONLY];
}

export type { StepKind, StepResult } from './step-kind.js';
