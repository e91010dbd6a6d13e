import { writeFileSync } from 'node:fs';
import { RUNBOOK_SCHEMA_FILE, runbookJsonSchema } from './schema.js';

// `npm run schema`: regenerates the committed schema; a unit test fails while it is stale.
writeFileSync(RUNBOOK_SCHEMA_FILE, runbookJsonSchema());
console.log(`wrote ${RUNBOOK_SCHEMA_FILE}`);
