// `npm run build`: bundles the bot into dist/src with esbuild: one file per entry point and chunks
// of shared code, rather than one file per module. Types are checked by `npm run typecheck`.
//
// Why a bundle: V8 keeps the source of every module a process loads for as long as it runs. Bundling
// leaves out what the bot never reaches (most of zod, every API group of @kubernetes/client-node it
// does not call, the modules below), and comments and whitespace, so each process holds less.
// Identifiers keep their names, so stack traces stay readable at 3 a.m.
import { rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const OUT = 'dist/src';

/**
 * Modules a dependency requires when it loads but the bot never uses. Each is bundled as a
 * stand-in that requires the real module from node_modules the first time code reaches into it.
 * - @slack/socket-mode: Bolt requires it, and with it undici (700 KB of source), which makes itself
 *   the process's fetch dispatcher and compiles its own HTTP parser to WebAssembly. Only Socket
 *   Mode uses it (SocketModeReceiver's constructor), so a web process in HTTP mode never loads it.
 * - whatwg-url: node-fetch 2 (the Kubernetes client's) requires it, and with it tr46's Unicode
 *   table, but uses it only where Node has no URL class of its own.
 * - bullmq's PostgreSQL backend: bullmq's index re-exports it, with 300 KB of SQL; opsbot queues
 *   on Redis.
 */
const ON_FIRST_USE = [
  { request: '@slack/socket-mode', load: '@slack/socket-mode' },
  { request: 'whatwg-url', load: 'whatwg-url' },
  {
    request: './postgres',
    importer: 'node_modules/bullmq/dist/cjs/index.js',
    load: 'bullmq/dist/cjs/postgres/index.js',
  },
];

const loadOnFirstUse = {
  name: 'load-on-first-use',
  setup(build) {
    const requests = new Set(ON_FIRST_USE.map((m) => m.request));
    build.onResolve({ filter: /.*/ }, (args) => {
      if (!requests.has(args.path) || args.namespace === 'on-first-use') return undefined;
      const found = ON_FIRST_USE.find(
        (m) =>
          m.request === args.path &&
          (!m.importer || args.importer.replaceAll('\\', '/').endsWith(m.importer)),
      );
      return found ? { path: found.load, namespace: 'on-first-use' } : undefined;
    });
    build.onResolve({ filter: /.*/, namespace: 'on-first-use' }, (args) => ({
      path: args.path,
      external: true,
    }));
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
  // Licence notices go to a .LEGAL.txt beside each output file, not into the source V8 keeps.
  legalComments: 'external',
  // Read only with NODE_OPTIONS=--enable-source-maps: stack traces then name src/ files and lines.
  sourcemap: 'linked',
  sourcesContent: false,
  // Bundled CommonJS packages call require() for Node's built-ins; ESM output has no require of its own.
  banner: {
    js: "import{createRequire as __opsbotRequire}from'node:module';const require=__opsbotRequire(import.meta.url);",
  },
  // Native addons load a .node file next to their package: they stay in node_modules.
  external: ['msgpackr-extract'],
  plugins: [loadOnFirstUse],
  logLevel: 'warning',
  metafile: true,
});
// Which source files and packages went into which output file: tests read it to tell what each
// process loaded, and esbuild's bundle analyzer shows from it what weighs what.
writeFileSync('dist/meta.json', JSON.stringify(metafile));
