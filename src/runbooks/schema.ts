import { z } from 'zod';
import { runbookSchema } from '../core/runbook.js';
import type { StepKind } from './steps/index.js';

export const RUNBOOK_SCHEMA_FILE = 'runbooks/runbook.schema.json';

/**
 * The JSON Schema editors check runbooks with, generated from the same zod schema the bot
 * validates with, which the step-kind registry builds: a new step kind shows up here by itself.
 */
export function runbookJsonSchema(kinds: readonly StepKind[]): string {
  const schema = z.toJSONSchema(runbookSchema(kinds), { io: 'input', unrepresentable: 'any' });
  const doc = { ...schema, title: 'opsbot runbook', $id: 'runbook.schema.json' };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
