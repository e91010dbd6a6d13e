// node --import ./test/helpers/import-log.mjs: appends "<pid> <specifier>" to $OPSBOT_IMPORT_LOG for
// every bare package a process imports, and with $OPSBOT_IMPORT_DELAY=<package>=<ms> makes that
// package's first import that much slower, as on a busy node (ESM resolve hook; a forked worker
// inherits the flag).
import { register } from 'node:module';

const [delayed, delayMs] = (process.env.OPSBOT_IMPORT_DELAY ?? '').split('=');
if (process.env.OPSBOT_IMPORT_LOG || delayed)
  register('./import-log-hooks.mjs', import.meta.url, {
    data: {
      file: process.env.OPSBOT_IMPORT_LOG,
      pid: process.pid,
      delay: delayed ? { specifier: delayed, ms: Number(delayMs) } : undefined,
    },
  });
