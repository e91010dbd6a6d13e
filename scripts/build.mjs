// `npm run build`: bundles the bot into dist/src with esbuild: one file per entry point and chunks
// of shared code, rather than one file per module. Types are checked by `npm run typecheck`.
//
// Why a bundle: V8 keeps the source of every module a process loads for as long as it runs. Bundling
// leaves out what the bot never reaches (most of zod and bullmq, every API group of
// @kubernetes/client-node), and comments and whitespace, so each process of the unit holds less.
// Identifiers keep their names, so stack traces stay readable at 3 a.m.
import { rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const OUT = 'dist/src';

/**
 * Bolt requires @slack/socket-mode when it loads, and with it undici (700 KB of source), which
 * installs itself as the process's fetch dispatcher and compiles its HTTP parser to WebAssembly.
 * Only Socket Mode uses the package: here it loads, from node_modules, the first time Bolt reaches
 * into it (SocketModeReceiver's constructor), so a web process in HTTP mode never does.
 */
const socketModeOnFirstUse = {
  name: 'socket-mode-on-first-use',
  setup(build) {
    build.onResolve({ filter: /^@slack\/socket-mode$/ }, (args) =>
      args.namespace === 'on-first-use'
        ? { path: args.path, external: true }
        : { path: args.path, namespace: 'on-first-use' },
    );
    build.onLoad({ filter: /.*/, namespace: 'on-first-use' }, (args) => ({
      contents: `let loaded; module.exports = new Proxy({}, { get: (_, key) => (loaded ??= require(${JSON.stringify(args.path)}))[key] });`,
      loader: 'js',
    }));
  },
};

// A fresh directory: chunk names carry a content hash, and stale chunks would pile up.
rmSync('dist', { recursive: true, force: true });

const { metafile } = await build({
  entryPoints: {
    cli: 'src/cli.ts',
    // Entry points of their own, so the image can delete dist/src/sandbox (local mode only) and
    // src/local/sandbox.ts still finds it by the same relative import in a checkout.
    'sandbox/kube-api': 'src/sandbox/kube-api.ts',
    'sandbox/sample-app': 'src/sandbox/sample-app.ts',
  },
  outdir: OUT,
  bundle: true,
  // Code only a dynamic import reaches (a feature opsbot.yml does not configure, the Bolt app in a
  // worker) goes in its own chunk and is loaded only when imported.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  // Read only with NODE_OPTIONS=--enable-source-maps: stack traces then name src/ files and lines.
  sourcemap: 'linked',
  sourcesContent: false,
  // Bundled CommonJS packages call require() for Node's built-ins; ESM output has no require of its own.
  banner: {
    js: "import{createRequire as __opsbotRequire}from'node:module';const require=__opsbotRequire(import.meta.url);",
  },
  // Native addons load a .node file next to their package: they stay in node_modules.
  external: ['msgpackr-extract'],
  plugins: [socketModeOnFirstUse],
  logLevel: 'warning',
  metafile: true,
});
// Which source files and packages went into which output file: tests read it to tell what each
// process loaded, and esbuild's bundle analyzer shows from it what weighs what.
writeFileSync('dist/meta.json', JSON.stringify(metafile));
