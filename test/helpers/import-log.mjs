// node --import ./test/helpers/import-log.mjs: appends "<pid> <specifier>" to $OPSBOT_IMPORT_LOG for
// every bare package a process imports (ESM resolve hook; a forked worker inherits the flag).
import { register } from 'node:module';

if (process.env.OPSBOT_IMPORT_LOG)
  register('./import-log-hooks.mjs', import.meta.url, {
    data: { file: process.env.OPSBOT_IMPORT_LOG, pid: process.pid },
  });
