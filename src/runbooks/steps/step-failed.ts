import { OpsError } from '../../core/errors.js';

/** A step whose check did not pass (an HTTP status, a rollout that did not complete): final, not retried. */
export class StepFailed extends OpsError {
  constructor(text: string) {
    super('external_rejected', text);
  }
}
