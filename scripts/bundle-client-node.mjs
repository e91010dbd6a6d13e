// Part of `npm run build`: replaces tsc's dist/src/kubernetes/client-node.js, which re-exports the
// package's root (every API group), with a bundle of only what src/kubernetes/client-node.ts exports.
// The package's own dependencies stay imports, resolved from node_modules as before.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(require.resolve('@kubernetes/client-node/package.json'), 'utf8'));

await build({
  entryPoints: ['src/kubernetes/client-node.ts'],
  outfile: 'dist/src/kubernetes/client-node.js',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: Object.keys(pkg.dependencies ?? {}),
  // Whitespace and syntax only: V8 keeps each module's source in memory, and names stay readable in stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  logLevel: 'warning',
});
