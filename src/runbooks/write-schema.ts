import { writeFileSync } from 'node:fs';
import { registeredCommands } from '../features.js';
import { RUNBOOK_SCHEMA_FILE, runbookJsonSchema } from './schema.js';
import { stepKinds } from './steps/index.js';

// `npm run schema`: regenerates the committed schema; a unit test fails while it is stale.
writeFileSync(RUNBOOK_SCHEMA_FILE, runbookJsonSchema(stepKinds(registeredCommands())));
console.log(`wrote ${RUNBOOK_SCHEMA_FILE}`);
