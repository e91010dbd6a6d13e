import { Duration, formatDuration } from '../../core/duration.js';
import { UserInputError } from '../../core/errors.js';
import { Dns1123Label } from '../../core/names.js';
import { DeploymentRef } from '../../core/runbook.js';
import { rolloutLine, watchRollout } from '../../engine/watch-rollout.js';
import { StepFailed } from './step-failed.js';
import { defineStepKind } from './step-kind.js';

/** Waits until a deployment has rolled out, as `kubectl rollout status` does; fails when it fails or times out. */
export const waitForRollout = defineStepKind<{ deployment: string; timeout?: number }>({
  kind: 'wait-for-rollout',
  description: 'Wait until the deployment has rolled out; fails when it fails or times out',
  fields: {
    deployment: DeploymentRef,
    /** How long to wait; defaults to `rollout.timeout` of opsbot.yml. */
    timeout: Duration.optional(),
  },
  plan(fields, env) {
    const deployment = String(fields.deployment);
    if (!Dns1123Label.safeParse(deployment).success)
      throw new UserInputError(`"${deployment}" is not a deployment name.`);
    const timeout = typeof fields.timeout === 'number' ? fields.timeout : undefined;
    return {
      label: `Wait for ${deployment} to roll out in ${env}`,
      params: { deployment, ...(timeout === undefined ? {} : { timeout }) },
      mutates: false,
      // Reading a rollout is what /ops status may do.
      permission: { action: 'status', environment: env },
    };
  },
  async preview(ctx, step) {
    const timeout = step.params.timeout ?? ctx.config.rollout.timeout;
    return [`Would wait up to ${formatDuration(timeout)} for ${step.params.deployment} to roll out.`];
  },
  async run(ctx, step) {
    const target = ctx.target(step.env);
    const timeout = step.params.timeout ?? ctx.config.rollout.timeout;
    const waitCtx = { ...ctx, config: { ...ctx.config, rollout: { ...ctx.config.rollout, timeout } } };
    const result = await watchRollout(waitCtx, target, step.params.deployment, [`:hourglass: ${step.label}`]);
    if (result.state !== 'complete') throw new StepFailed(rolloutLine(result));
    return {
      detail: `${step.params.deployment} rolled out: ${result.detail}`,
      audit: {
        target: step.params.deployment,
        namespace: target.namespace,
        environment: step.env,
        rollout: result,
      },
    };
  },
});
