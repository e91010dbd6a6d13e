import { Text } from '../../core/runbook.js';
import { slackText } from '../../core/text.js';
import { defineStepKind } from './step-kind.js';

/** Shows a line in the run's message. */
export const messageStep = defineStepKind<{ text: string }>({
  kind: 'message',
  description: `Show a line in the run's message`,
  fields: { text: Text },
  plan: (fields) => ({ label: 'Message', params: { text: String(fields.text) }, mutates: false }),
  preview: async (_ctx, step) => [`Would say: ${slackText(step.params.text)}`],
  run: async (_ctx, step) => ({ detail: step.params.text, audit: { args: { text: step.params.text } } }),
});
