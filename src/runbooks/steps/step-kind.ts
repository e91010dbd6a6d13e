import type { OpsbotConfig } from '../../config/schema.js';
import type { CrossCheckContext, PlannedStep, StepPlanner } from '../../core/runbook.js';
import type { StepReversal } from '../../core/undo.js';
import type { AuditDetails, RunContext } from '../../engine/command-module.js';

/** How a step ended: a line for the run's message, its audit details, and a check that did not pass. */
export interface StepResult {
  detail: string;
  audit: AuditDetails;
  /**
   * The change was applied, but what the step checks afterwards (its rollout) did not pass: the step
   * is recorded as executed, as the single command would be, and the run stops there.
   */
  failedCheck?: string;
  /** For a step that changed something: how it is undone (a run's undo reverses its steps). */
  reversal?: StepReversal | undefined;
}

/**
 * One kind of runbook step. Commands with `step` become kinds (command-step.ts); the runbook-only
 * kinds (wait-for-rollout, http-check, message, approval) are written as kinds directly.
 */
export interface StepKind<P = unknown> extends StepPlanner<P, OpsbotConfig> {
  /** Ack-path checks that need the config, such as a scale step's bounds. */
  check?(config: OpsbotConfig, step: PlannedStep<P>): void;
  /** What the step would do, from a server-side dry run where it changes something; changes nothing. */
  preview(ctx: RunContext, step: PlannedStep<P>, reason: string | undefined): Promise<string[]>;
  /** Runs the step; throws when it failed before it changed anything. */
  run(ctx: RunContext, step: PlannedStep<P>, reason: string | undefined): Promise<StepResult>;
  /** The kind's own load-time checks of a step against its runbook. */
  checkStep?: CrossCheckContext['checkStep'];
}

export function defineStepKind<P>(kind: StepKind<P>): StepKind<P> {
  return kind;
}
