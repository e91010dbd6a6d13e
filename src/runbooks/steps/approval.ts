import { StateError } from '../../core/errors.js';
import { Text } from '../../core/runbook.js';
import { mention } from '../../engine/audit-records.js';
import { defineStepKind } from './step-kind.js';

/** A second person approves, up front and with the whole plan, before the run starts. */
export const approvalStep = defineStepKind<{ text: string }>({
  kind: 'approval',
  description: 'A second person approves (up front, with the whole plan) before the run starts',
  fields: {
    /** What the approver is asked. */
    text: Text.optional(),
  },
  plan: (fields) => ({
    label: 'Approval by a second person',
    params: { text: fields.text === undefined ? 'Approve this run' : String(fields.text) },
    mutates: false,
    approval: true,
  }),
  preview: async () => ['Needs a second person to approve before the run starts.'],
  async run(ctx) {
    const { approver, emergency } = ctx.job;
    if (approver) return { detail: `Approved by ${mention(approver)} before the run started.`, audit: {} };
    if (emergency) return { detail: 'Skipped: break-glass run (--emergency).', audit: {} };
    throw new StateError(
      'conflict',
      'This run was not approved by a second person; nothing after this step ran.',
    );
  },
});
