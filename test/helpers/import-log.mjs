// node --import ./test/helpers/import-log.mjs: appends "<pid>.<thread id> <file URL>" to
// $OPSBOT_IMPORT_LOG for every file a thread imports (test/helpers/bundle-contents.ts tells what the
// build put in each) and "<pid>.<thread id> <package>" for every package it require()s from
// node_modules (what the build leaves external), and with
// $OPSBOT_IMPORT_DELAY=<source path or package>=<ms> makes the first import of the built file holding
// that code that much slower, as on a busy node (ESM resolve hook; a worker thread inherits the flag).
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { threadId } from 'node:worker_threads';

const spec = process.env.OPSBOT_IMPORT_DELAY ?? '';
const cut = spec.lastIndexOf('=');
const file = process.env.OPSBOT_IMPORT_LOG;
if (file || spec)
  register('./import-log-hooks.mjs', import.meta.url, {
    data: {
      file,
      thread: `${process.pid}.${threadId}`,
      delay: spec ? { source: spec.slice(0, cut), ms: Number(spec.slice(cut + 1)) } : undefined,
    },
  });
if (file) {
  const load = Module._load;
  Module._load = function logged(request, ...rest) {
    if (!request.startsWith('.') && !request.startsWith('node:') && !request.startsWith('/'))
      appendFileSync(file, `${process.pid}.${threadId} ${request}\n`);
    return load.call(this, request, ...rest);
  };
}
