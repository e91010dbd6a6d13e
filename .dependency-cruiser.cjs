/**
 * The layering of opsbot, checked on every CI run (`npm run deps`). Type-only imports count: a
 * type is a dependency too. See README "Extending opsbot" for what each layer is.
 */
const ADAPTERS = '^src/(slack|github|kubernetes|queue|http|local|sandbox)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-is-pure',
      comment:
        'src/core is the pure domain: it imports only itself, zod and yaml. No adapter, no config module, no engine.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: {
        pathNot: ['^src/core/', '^node_modules/(zod|yaml)/', '^node_modules/@types/node/'],
        dependencyTypesNot: ['core'],
      },
    },
    {
      name: 'ports-know-no-engine',
      comment: 'src/ports.ts says what core and engine need from outside; it must not depend on the engine.',
      severity: 'error',
      from: { path: '^src/ports\\.ts$' },
      to: { path: '^src/(engine|commands)/' },
    },
    {
      name: 'commands-use-no-adapters',
      comment: 'A command talks to ports (ctx.cluster, ctx.services); it never imports an adapter.',
      severity: 'error',
      from: { path: '^commands/' },
      to: { path: ADAPTERS },
    },
    {
      name: 'engine-uses-no-adapters',
      comment:
        'The engine (ack path, worker path, approvals) runs over ports; adapters are wired in main.ts.',
      severity: 'error',
      from: { path: '^src/engine/' },
      to: { path: ADAPTERS },
    },
    {
      name: 'engine-knows-no-feature',
      comment: 'Features plug into the engine (src/runtime.ts), never the other way round.',
      severity: 'error',
      from: { path: '^src/engine/' },
      to: { path: '^src/(alerts|preview|runbooks)/' },
    },
    {
      name: 'incident-service-uses-ports',
      comment:
        'The incident service talks to chat and the issue tracker through src/ports.ts (IncidentChat, IssueTracker); the Slack and GitHub adapters are wired in src/alerts/start.ts.',
      severity: 'error',
      from: { path: '^src/alerts/incident-service\\.ts$' },
      to: { path: ['^src/(slack|github)/', '^node_modules/(@slack|@octokit)/'] },
    },
    {
      name: 'sandbox-stands-alone',
      comment:
        'The sandbox API server is a fake Kubernetes; it imports nothing of the bot, so it is never loaded by accident.',
      severity: 'error',
      from: { path: '^src/sandbox/' },
      to: { path: '^(src|commands)/', pathNot: '^src/sandbox/' },
    },
    {
      name: 'kubernetes-client-through-one-module',
      comment:
        'Only src/kubernetes/client-node.ts imports @kubernetes/client-node at run time: the build bundles it to the APIs opsbot calls, and a second copy of a class would fail instanceof. Types may come from the package.',
      severity: 'error',
      from: { path: '^(src|commands)/', pathNot: '^src/kubernetes/client-node\\.ts$' },
      to: { path: '^node_modules/@kubernetes/client-node/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-circular',
      comment: 'Modules depend one way; a cycle means two of them are one concept, or a seam is missing.',
      severity: 'error',
      from: { path: '^(src|commands)/' },
      to: { circular: true },
    },
    {
      name: 'not-to-test',
      comment: 'Production code never imports test code.',
      severity: 'error',
      from: { path: '^(src|commands)/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
