import { z } from 'zod';
import { Runbook } from '../core/runbook.js';

export const RUNBOOK_SCHEMA_FILE = 'runbooks/runbook.schema.json';

/** The JSON Schema editors check runbooks with, generated from the zod schema the bot validates with. */
export function runbookJsonSchema(): string {
  const schema = z.toJSONSchema(Runbook, { io: 'input', unrepresentable: 'any' });
  const doc = { ...schema, title: 'opsbot runbook', $id: 'runbook.schema.json' };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
