import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, UserInputError } from '../../src/core/errors.js';
import {
  matchRunbooks,
  parseAssignments,
  planRun,
  type Runbook,
  requiredPermissions,
  resolveParams,
} from '../../src/core/runbook.js';
import { loadRunbooks, runbooksDir } from '../../src/runbooks/load.js';
import { RUNBOOK_SCHEMA_FILE, runbookJsonSchema } from '../../src/runbooks/schema.js';
import { kinds, parseRunbook, runWith } from '../helpers/registry.js';

const CONFIG = { environments: { staging: {}, prod: {} } } as never;
const ENVS = ['staging', 'prod'];

const GOOD = `# yaml-language-server: $schema=./runbook.schema.json
name: fix-api
description: Roll back and check
params:
  deployment: { type: deployment, default: api }
  replicas: { type: int, default: 4, allowed: [2, 4, 6] }
  mode: { type: enum, allowed: [fast, safe], default: safe }
  url: { type: string }
match:
  alertname: HighErrorRate
  service: { regex: "api|web" }
steps:
  - kind: rollback
    deployment: "{{deployment}}"
  - kind: scale
    deployment: "{{deployment}}"
    replicas: "{{replicas}}"
  - kind: wait-for-rollout
    deployment: "{{deployment}}"
    timeout: 30s
  - kind: http-check
    url: "{{url}}/healthz"
  - kind: status
    env: prod
    deployment: web
onFailure:
  - kind: message
    text: "{{deployment}} in {{env}} did not recover ({{mode}})"
allowHosts: [api.example.com]
`;

/** Writes runbook files to a fresh folder and loads them; returns the error text, or the runbooks. */
function load(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'runbooks-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  try {
    return { runbooks: loadRunbooks(dir, CONFIG, kinds), dir, error: undefined };
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return { runbooks: [], dir, error: (err as Error).message };
  }
}

describe('runbook files', () => {
  it('loads a valid runbook with defaults filled in', () => {
    const { runbooks, error } = load({ 'fix.yml': GOOD });
    expect(error).toBeUndefined();
    expect(runbooks).toHaveLength(1);
    const rb = runbooks[0]!;
    expect(rb.params.url?.type).toBe('string');
    expect(rb.steps[2]).toMatchObject({ kind: 'wait-for-rollout', timeout: 30_000 });
    expect(rb.steps[3]).toMatchObject({ kind: 'http-check', expectStatus: 200, timeout: 5_000 });
  });

  it.each([
    [
      'an unknown step kind',
      GOOD.replace('kind: status', 'kind: reboot'),
      /fix\.yml:23:11 steps\[4\]\.kind: unknown step kind "reboot"/,
    ],
    [
      'a reference to an undeclared param',
      GOOD.replace('"{{url}}/healthz"', '"{{health}}/healthz"'),
      /fix\.yml:22:10 steps\[3\]\.url: \{\{health\}\} is not a parameter/,
    ],
    [
      'an unknown environment',
      GOOD.replace('env: prod', 'env: qa'),
      /fix\.yml:24:10 steps\[4\]\.env: unknown environment "qa"/,
    ],
    [
      'a default outside the allowed values',
      GOOD.replace('default: 4,', 'default: 5,'),
      /fix\.yml:6:35 params\.replicas\.default: the default is not one of the allowed values/,
    ],
    [
      'an enum without allowed values',
      GOOD.replace('allowed: [fast, safe], ', ''),
      /fix\.yml:7:9 params\.mode\.allowed: an enum parameter needs allowed values/,
    ],
    [
      'a bad duration',
      GOOD.replace('timeout: 30s', 'timeout: soon'),
      /fix\.yml:20:14 steps\[2\]\.timeout: expected a duration/,
    ],
    [
      'an unknown key',
      GOOD.replace('kind: rollback', 'kind: rollback\n    force: true'),
      /fix\.yml:13:5 steps\[0\]: Unrecognized key: "force"/,
    ],
    [
      'a name that is not DNS-1123',
      GOOD.replace('name: fix-api', 'name: Fix_API'),
      /fix\.yml:2:7 name: must be lowercase/,
    ],
    [
      'a reference in onFailure',
      GOOD.replace('({{mode}})', '({{speed}})'),
      /fix\.yml:28:11 onFailure\[0\]\.text: \{\{speed\}\} is not a parameter/,
    ],
    [
      'the built-in env declared again',
      GOOD.replace('  url: { type: string }', '  url: { type: string }\n  env: { type: string }'),
      /fix\.yml:9:8 params\.env: "env" is built in/,
    ],
  ])('refuses %s, naming file, line and column', (_, text, expected) => {
    const { error, dir } = load({ 'fix.yml': text });
    expect(error).toMatch(expected);
    expect(error).toContain(join(dir, 'fix.yml'));
  });

  it('reports every problem of a file at once', () => {
    const text = GOOD.replace('kind: status', 'kind: reboot').replace('env: prod', 'env: qa');
    const { error } = load({ 'fix.yml': text });
    expect(error).toMatch(/unknown step kind/);
    expect(error).toMatch(/unknown environment "qa"/);
  });

  it('refuses duplicate names across files', () => {
    const { error } = load({ 'a.yml': GOOD, 'b.yml': GOOD });
    expect(error).toMatch(/b\.yml:2:7 name: duplicate runbook name "fix-api"/);
  });

  it('refuses YAML that does not parse, with its position', () => {
    const { error } = load({ 'x.yml': 'name: [unclosed\n' });
    expect(error).toMatch(/x\.yml is not valid YAML/);
  });

  it('ignores other files and a missing folder', () => {
    expect(load({ 'README.md': '# no', 'schema.json': '{}' }).runbooks).toEqual([]);
    expect(loadRunbooks('/nonexistent/runbooks', CONFIG, kinds)).toEqual([]);
  });

  it('resolves the folder relative to the config file', () => {
    expect(runbooksDir({ runbooks: { dir: 'runbooks' } }, '/etc/opsbot/opsbot.yml')).toBe(
      '/etc/opsbot/runbooks',
    );
    expect(runbooksDir({ runbooks: { dir: '/srv/rb' } }, '/etc/opsbot/opsbot.yml')).toBe('/srv/rb');
  });

  it('ships example runbooks that validate against the example config', () => {
    const repo = join(import.meta.dirname, '../..');
    const runbooks = loadRunbooks(join(repo, 'runbooks'), CONFIG, kinds);
    expect(runbooks.map((r) => r.name).sort()).toEqual([
      'restart-stuck-worker',
      'rollback-on-error-rate',
      'scale-out',
    ]);
    for (const file of ['rollback-on-error-rate.yml', 'scale-out.yml', 'restart-stuck-worker.yml']) {
      expect(readFileSync(join(repo, 'runbooks', file), 'utf8')).toMatch(
        /^# yaml-language-server: \$schema=\.\/runbook\.schema\.json/,
      );
    }
  });

  it('has a committed JSON Schema that matches the zod schema (run `npm run schema` when this fails)', () => {
    const repo = join(import.meta.dirname, '../..');
    const committed = readFileSync(join(repo, RUNBOOK_SCHEMA_FILE), 'utf8');
    expect(committed).toBe(runbookJsonSchema(kinds));
    const schema = JSON.parse(committed) as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['name', 'description', 'params', 'match', 'steps', 'onFailure']),
    );
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'description', 'steps']));
  });
});

describe('parameters of a run', () => {
  const rb = parseRunbook({
    name: 'x',
    description: 'x',
    params: {
      deployment: { type: 'deployment' },
      replicas: { type: 'int', default: 4, allowed: [2, 4, 6] },
      target: { type: 'environment', default: 'staging' },
      mode: { type: 'enum', allowed: ['fast', 'safe'], default: 'safe' },
    },
    steps: [
      { kind: 'scale', deployment: '{{deployment}}', replicas: '{{replicas}}' },
      { kind: 'restart', env: '{{target}}', deployment: '{{deployment}}' },
      { kind: 'wait-for-rollout', deployment: '{{deployment}}' },
      { kind: 'message', text: 'done in {{env}} ({{mode}})' },
    ],
    onFailure: [{ kind: 'rollback', env: 'prod', deployment: '{{deployment}}' }],
  });

  it('fills defaults, converts ints and sets env from --env', () => {
    expect(resolveParams(rb, { deployment: 'api' }, 'prod', ENVS)).toEqual({
      env: 'prod',
      deployment: 'api',
      replicas: 4,
      target: 'staging',
      mode: 'safe',
    });
  });

  it.each([
    [{}, /needs deployment=<deployment>/],
    [{ deployment: 'API!' }, /deployment must be a deployment name/],
    [{ deployment: 'api', replicas: 'lots' }, /replicas must be a whole number/],
    [{ deployment: 'api', replicas: '5' }, /replicas must be one of 2, 4, 6; got "5"/],
    [{ deployment: 'api', target: 'qa' }, /target: unknown environment "qa"/],
    [{ deployment: 'api', mode: 'yolo' }, /mode must be one of fast, safe/],
    [{ deployment: 'api', colour: 'red' }, /x has no parameter "colour"/],
  ])('refuses %o', (given, expected) => {
    expect(() => resolveParams(rb, given, 'staging', ENVS)).toThrow(UserInputError);
    expect(() => resolveParams(rb, given, 'staging', ENVS)).toThrow(expected);
  });

  it('parses key=value words and refuses anything else', () => {
    expect(parseAssignments(['a=1', 'url=http://x/?q=1'])).toEqual({ a: '1', url: 'http://x/?q=1' });
    expect(() => parseAssignments(['oops'])).toThrow(/not a parameter; write key=value/);
    expect(() => parseAssignments(['a=1', 'a=2'])).toThrow(/more than once/);
  });

  it('plans the steps with every value rendered, and lists every permission they need', () => {
    const values = resolveParams(rb, { deployment: 'api', target: 'prod' }, 'staging', ENVS);
    const plan = planRun(rb, values, { environments: ENVS, config: CONFIG, kinds });
    expect(plan.steps.map((s) => [s.kind, s.env, s.label])).toEqual([
      ['scale', 'staging', 'Scale api in staging to 4'],
      ['restart', 'prod', 'Restart api in prod'],
      ['wait-for-rollout', 'staging', 'Wait for api to roll out in staging'],
      ['message', 'staging', 'Message'],
    ]);
    // A command step is the command's own arguments, parsed by its own grammar when it runs.
    expect(plan.steps[0]).toMatchObject({ params: { words: ['api', '4'], flags: { env: 'staging' } } });
    expect(plan.steps[3]).toMatchObject({ params: { text: 'done in staging (safe)' } });
    expect(requiredPermissions(plan)).toEqual([
      { action: 'scale', environment: 'staging' },
      { action: 'restart', environment: 'prod' },
      { action: 'status', environment: 'staging' },
      { action: 'rollback', environment: 'prod' },
    ]);
  });
});

describe('matchRunbooks', () => {
  const rb = (name: string, match?: Runbook['match']) =>
    parseRunbook({
      name,
      description: 'd',
      ...(match ? { match } : {}),
      steps: [{ kind: 'message', text: 'hi' }],
    });
  const runbooks = [
    rb('errors', { alertname: 'HighErrorRate' }),
    rb('errors-api', { alertname: 'HighErrorRate', service: { regex: 'api|gateway' } }),
    rb('latency', { alertname: { regex: 'High.*Latency' } }),
    rb('manual-only'),
  ];
  const names = (labels: Record<string, string>) => matchRunbooks(runbooks, labels).map((r) => r.name);

  it('offers the runbooks whose every label rule holds', () => {
    expect(names({ alertname: 'HighErrorRate', service: 'api' })).toEqual(['errors', 'errors-api']);
    expect(names({ alertname: 'HighErrorRate', service: 'web' })).toEqual(['errors']);
    expect(names({ alertname: 'HighP99Latency' })).toEqual(['latency']);
  });

  it('anchors regexes, needs the label present, and never offers runbooks without rules', () => {
    expect(names({ alertname: 'VeryHighErrorRate' })).toEqual([]);
    expect(names({ alertname: 'HighErrorRate', service: 'api-v2' })).toEqual(['errors']);
    expect(names({ alertname: 'HighErrorRate' })).toEqual(['errors']);
    expect(names({})).toEqual([]);
  });
});

describe('the example folder layout', () => {
  it('ignores sub-folders such as preview templates', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbooks-'));
    mkdirSync(join(dir, 'preview'));
    writeFileSync(join(dir, 'preview', 'deployment.yml'), 'kind: Deployment\n');
    expect(loadRunbooks(dir, CONFIG, kinds)).toEqual([]);
  });
});

describe('the hosts an http-check may reach', () => {
  it('must be declared: a runbook with an http-check and no allowHosts does not load', () => {
    const { error } = load({ 'fix.yml': GOOD.replace('allowHosts: [api.example.com]\n', '') });
    expect(error).toMatch(
      /fix\.yml.* allowHosts: a runbook with http-check steps must list the hosts they may reach in allowHosts/,
    );
    const literal = GOOD.replace('"{{url}}/healthz"', '"http://169.254.169.254/latest/meta-data/"');
    expect(load({ 'fix.yml': literal }).error).toMatch(
      /steps\[3\]\.url: 169\.254\.169\.254 is not in allowHosts \(api\.example\.com\)/,
    );
  });

  it('are checked when a run is planned, whatever a parameter or an alert label says', () => {
    const rb = parseRunbook({
      name: 'probe',
      description: 'd',
      params: { url: { type: 'string' } },
      allowHosts: ['*.example.com', 'health.svc.cluster.local'],
      steps: [{ kind: 'http-check', url: '{{url}}' }],
    });
    const plan = (url: string) =>
      planRun(rb, resolveParams(rb, { url }, 'staging', ENVS), { environments: ENVS, config: CONFIG, kinds });
    expect(plan('https://api.example.com/healthz').steps[0]).toMatchObject({
      kind: 'http-check',
      params: { allowHosts: ['*.example.com', 'health.svc.cluster.local'] },
    });
    expect(plan('http://health.svc.cluster.local:8080/').steps[0]).toMatchObject({ kind: 'http-check' });
    for (const url of [
      'http://127.0.0.1:8080/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/',
      'http://example.com/',
      'http://api.example.com.evil.example/',
    ])
      expect(() => plan(url), url).toThrow(
        /^probe may not check .*: its allowHosts are \*\.example\.com, health\.svc\.cluster\.local\.$/,
      );
    expect(() => plan('http://user:pw@api.example.com/')).toThrow(/must not carry credentials/);
  });
});

describe('/ops run in the ack path', () => {
  const config = { environments: { staging: { protected: false }, prod: { protected: true } } } as never;
  const rb = (name: string, steps: unknown[]) =>
    parseRunbook({ name, description: 'd', steps, allowHosts: ['127.0.0.1'] });
  const command = runWith([
    rb('gated', [{ kind: 'approval' }, { kind: 'restart', deployment: 'api' }]),
    rb('read-only', [
      { kind: 'status', deployment: 'api' },
      { kind: 'http-check', url: 'http://127.0.0.1:1/' },
    ]),
    rb('cross-env', [{ kind: 'scale', env: 'prod', deployment: 'api', replicas: 3 }]),
  ]);
  const args = (text: string[], flags: Record<string, string | true> = {}) =>
    command.parse({ words: text, flags: { env: 'staging', ...flags } });

  it('asks for approval for an approval step or a change to a protected environment, never for a dry run', () => {
    expect(command.needsApproval?.(config, args(['gated']), undefined)).toBe(true);
    expect(command.needsApproval?.(config, args(['cross-env']), undefined)).toBe(true);
    expect(command.needsApproval?.(config, args(['read-only']), undefined)).toBe(false);
    expect(command.needsApproval?.(config, args(['gated'], { 'dry-run': true }), undefined)).toBe(false);
    expect(() => command.check?.(config, args(['gated']), undefined)).toThrow(
      /needs a second person's approval here/,
    );
    expect(() => command.check?.(config, args(['gated'], { reason: 'stuck pods' }), undefined)).not.toThrow();
  });

  it('lists the permission of every step, in the environment each acts on', () => {
    expect(command.requires?.(config, args(['read-only']), undefined)).toEqual([
      { action: 'status', environment: 'staging' },
    ]);
    expect(command.requires?.(config, args(['cross-env']), undefined)).toEqual([
      { action: 'scale', environment: 'prod' },
    ]);
  });

  it("holds scale steps to the environment's bounds", () => {
    const bounded = {
      environments: { staging: { protected: false, scale: { min: 1, max: 2 } }, prod: { protected: true } },
    } as never;
    expect(() =>
      command.check?.(bounded, args(['cross-env'], { reason: 'load spike' }), undefined),
    ).not.toThrow();
    const local = runWith([rb('big', [{ kind: 'scale', deployment: 'api', replicas: 3 }])]);
    expect(() =>
      local.check?.(bounded, local.parse({ words: ['big'], flags: { env: 'staging' } }), undefined),
    ).toThrow(/staging allows between 1 and 2 replicas; 3 is outside that/);
  });

  it('refuses unknown flags and bad reasons', () => {
    expect(() => args(['gated'], { force: true })).toThrow(/Unknown flag --force/);
    expect(() => args(['gated'], { reason: 'x' })).toThrow(/--reason must say why/);
  });
});
