// node --import ./test/helpers/import-log.mjs: appends "<pid> <file URL>" to $OPSBOT_IMPORT_LOG for
// every file a process imports (test/helpers/bundle-contents.ts tells what the build put in each),
// and with $OPSBOT_IMPORT_DELAY=<source path or package>=<ms> makes the first import of the built
// file holding that code that much slower, as on a busy node (ESM resolve hook; a forked worker
// inherits the flag).
import { register } from 'node:module';

const spec = process.env.OPSBOT_IMPORT_DELAY ?? '';
const cut = spec.lastIndexOf('=');
if (process.env.OPSBOT_IMPORT_LOG || spec)
  register('./import-log-hooks.mjs', import.meta.url, {
    data: {
      file: process.env.OPSBOT_IMPORT_LOG,
      pid: process.pid,
      delay: spec ? { source: spec.slice(0, cut), ms: Number(spec.slice(cut + 1)) } : undefined,
    },
  });
