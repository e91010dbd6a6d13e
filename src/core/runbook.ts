import { z } from 'zod';
import type { Action } from './actions.js';
import { Duration } from './duration.js';
import { UserInputError } from './errors.js';
import { Dns1123Label } from './names.js';

/** `{{name}}` in a step value: replaced by the parameter's value when the run is planned. */
const REFERENCE = /\{\{\s*([^}\s]*)\s*\}\}/g;
/** `--env` of the run; every runbook can use it without declaring it. */
export const BUILTIN_PARAMS: readonly string[] = ['env'];

const ParamName = z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be lowercase letters, digits and "_"');
const Scalar = z.union([z.string(), z.int()]);

/** A text value that may contain `{{param}}` references. */
const Text = z.string().min(1);
/** A deployment name, literal or `{{param}}`. */
const DeploymentRef = z
  .string()
  .regex(
    /^([a-z0-9-]|\{\{\s*[a-z][a-z0-9_]*\s*\}\})+$/,
    'must be a deployment name or a {{param}} reference',
  );
/** A whole number, literal or `{{param}}`. */
const IntRef = z.union([
  z.int().min(0),
  z.string().regex(/^\{\{\s*[a-z][a-z0-9_]*\s*\}\}$/, 'must be a whole number or a {{param}} reference'),
]);

export const PARAM_TYPES = ['string', 'int', 'enum', 'deployment', 'environment'] as const;

export const RunbookParam = z
  .strictObject({
    type: z.enum(PARAM_TYPES).default('string'),
    description: z.string().optional(),
    /** Used when the run does not give the parameter; without it the parameter is required. */
    default: Scalar.optional(),
    /** The only values accepted; required for `enum`. */
    allowed: z.array(Scalar).min(1).optional(),
  })
  .superRefine((param, ctx) => {
    if (param.type === 'enum' && !param.allowed) {
      ctx.addIssue({ code: 'custom', path: ['allowed'], message: 'an enum parameter needs allowed values' });
    }
  });
export type RunbookParam = z.infer<typeof RunbookParam>;

/** One alert label matcher: an exact value, or `{ regex: … }` matched against the whole value. */
export const LabelMatcher = z.union([
  z.string(),
  z.strictObject({
    regex: z.string().refine(
      (source) => {
        try {
          new RegExp(source);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'must be a valid regular expression' },
    ),
  }),
]);
export type LabelMatcher = z.infer<typeof LabelMatcher>;

/** A host an http-check may reach: a name or IP address, or `*.example.com` for any name under it. */
export const HostPattern = z
  .string()
  .transform((h) =>
    h
      .trim()
      .toLowerCase()
      .replace(/^\[(.*)\]$/, '$1'),
  )
  .pipe(
    z
      .string()
      .regex(
        /^((\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*|[0-9a-f:.]*:[0-9a-f:.]*)$/,
        'must be a host name, an IP address, or "*.example.com"',
      ),
  );

const StepBase = {
  /** What the step is called in the progress message; defaults to a description of it. */
  name: z.string().min(1).optional(),
  /** Another environment than the run's own; literal or `{{param}}`. */
  env: Text.optional(),
};

export const RollbackStep = z
  .strictObject({
    kind: z.literal('rollback'),
    ...StepBase,
    deployment: DeploymentRef,
    to: IntRef.optional(),
  })
  .meta({
    description: `Roll a deployment back to its previous revision (or to revision "to"), as /ops rollback does`,
  });
export const RestartStep = z
  .strictObject({
    kind: z.literal('restart'),
    ...StepBase,
    deployment: DeploymentRef,
  })
  .meta({
    description: `Restart every pod of a deployment with a rolling update, as /ops restart does`,
  });
export const ScaleStep = z
  .strictObject({
    kind: z.literal('scale'),
    ...StepBase,
    deployment: DeploymentRef,
    replicas: IntRef,
  })
  .meta({
    description: `Set a deployment's replica count within the environment's bounds, as /ops scale does`,
  });
export const WaitForRolloutStep = z
  .strictObject({
    kind: z.literal('wait-for-rollout'),
    ...StepBase,
    deployment: DeploymentRef,
    /** How long to wait; defaults to `rollout.timeout` of opsbot.yml. */
    timeout: Duration.optional(),
  })
  .meta({
    description: `Wait until the deployment has rolled out; fails when it fails or times out`,
  });
export const StatusStep = z
  .strictObject({
    kind: z.literal('status'),
    ...StepBase,
    deployment: DeploymentRef,
  })
  .meta({
    description: `Read replicas, images, revision and troubled pods of a deployment`,
  });
export const HttpCheckStep = z
  .strictObject({
    kind: z.literal('http-check'),
    ...StepBase,
    url: Text,
    expectStatus: z.int().min(100).max(599).default(200),
    timeout: Duration.default(5_000),
  })
  .meta({
    description: `Fail unless the URL answers expectStatus within timeout`,
  });
export const MessageStep = z.strictObject({ kind: z.literal('message'), ...StepBase, text: Text }).meta({
  description: `Show a line in the run's message`,
});
export const ApprovalStep = z
  .strictObject({
    kind: z.literal('approval'),
    ...StepBase,
    /** What the approver is asked. */
    text: Text.optional(),
  })
  .meta({
    description: `A second person approves (up front, with the whole plan) before the run starts`,
  });

export const STEP_KINDS = [
  'rollback',
  'restart',
  'scale',
  'wait-for-rollout',
  'status',
  'http-check',
  'message',
  'approval',
] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export const RunbookStep = z.discriminatedUnion(
  'kind',
  [
    RollbackStep,
    RestartStep,
    ScaleStep,
    WaitForRolloutStep,
    StatusStep,
    HttpCheckStep,
    MessageStep,
    ApprovalStep,
  ],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `unknown step kind${typeof (issue.input as { kind?: unknown } | undefined)?.kind === 'string' ? ` "${(issue.input as { kind: string }).kind}"` : ''}; expected one of ${STEP_KINDS.join(', ')}`
        : undefined,
  },
);
export type RunbookStep = z.infer<typeof RunbookStep>;

export const Runbook = z.strictObject({
  name: Dns1123Label.meta({ description: 'Unique; /ops run <name>' }),
  description: z.string().min(1).meta({ description: 'One line: what the runbook is for' }),
  params: z.record(ParamName, RunbookParam).default({}),
  /** Alert labels this runbook answers; all must match. Offered as a button on matching incidents. */
  match: z.record(z.string().min(1), LabelMatcher).optional(),
  allowHosts: z.array(HostPattern).optional().meta({
    description:
      'Hosts its http-check steps may reach (names, IPs, or "*.example.com"). A host named exactly may resolve to a private, loopback or link-local address; one matched by "*." only to public ones. Redirects are followed only to these hosts.',
  }),
  steps: z.array(RunbookStep).min(1).meta({ description: 'Run in order; the first failure stops the run' }),
  /** Run, in order, after the first failing step; their own failures are reported, not chained. */
  onFailure: z.array(RunbookStep).default([]),
});
export type Runbook = z.infer<typeof Runbook>;

/** The permission a step needs, beyond `run` itself; undefined for steps that touch nothing. */
export function actionOfStep(kind: StepKind): Action | undefined {
  switch (kind) {
    case 'rollback':
    case 'restart':
    case 'scale':
    case 'status':
      return kind;
    case 'wait-for-rollout':
      return 'status';
    default:
      return undefined;
  }
}

/** Every `{{name}}` referenced in a value. */
export function referencesIn(value: string): string[] {
  return [...value.matchAll(REFERENCE)].map((m) => m[1] ?? '');
}

/** Replaces `{{name}}` with the values given; unknown references are an error (validation catches them first). */
export function render(value: string, values: Readonly<Record<string, string | number>>): string {
  return value.replace(REFERENCE, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new UserInputError(`{{${name}}} is not a parameter of this runbook.`);
    return String(v);
  });
}

export interface CrossCheckContext {
  environments: readonly string[];
  /** Names of runbooks already loaded, for the duplicate check. */
  seenNames?: ReadonlySet<string>;
}

export interface RunbookIssue {
  path: (string | number)[];
  message: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a runbook against the config: references, environments, parameter defaults, duplicate
 * names. It tolerates a runbook that failed its schema, so every problem of a file is reported at once.
 */
export function crossCheckRunbook(runbook: Runbook, context: CrossCheckContext): RunbookIssue[] {
  const issues: RunbookIssue[] = [];
  const envs = new Set(context.environments);
  const params = isRecord(runbook.params) ? (runbook.params as Record<string, RunbookParam>) : {};
  const known = new Set([...Object.keys(params), ...BUILTIN_PARAMS]);
  if (typeof runbook.name === 'string' && context.seenNames?.has(runbook.name)) {
    issues.push({ path: ['name'], message: `duplicate runbook name "${runbook.name}"` });
  }
  for (const [name, param] of Object.entries(params)) {
    if (BUILTIN_PARAMS.includes(name)) {
      issues.push({
        path: ['params', name],
        message: `"${name}" is built in (the run's --env); pick another name`,
      });
    }
    if (!isRecord(param) || !(PARAM_TYPES as readonly unknown[]).includes(param.type ?? 'string')) continue;
    const allowed = Array.isArray(param.allowed) ? param.allowed : [];
    const values: [unknown, (string | number)[]][] = [
      ...(param.default === undefined
        ? []
        : [[param.default, ['params', name, 'default']] as [unknown, (string | number)[]]]),
      ...allowed.map((v, i) => [v, ['params', name, 'allowed', i]] as [unknown, (string | number)[]]),
    ];
    for (const [value, path] of values) {
      const problem = checkParamValue(
        name,
        { ...param, type: param.type ?? 'string' },
        String(value),
        envs,
        false,
      );
      if (problem) issues.push({ path, message: problem });
    }
    if (
      param.default !== undefined &&
      allowed.length > 0 &&
      !allowed.map(String).includes(String(param.default))
    ) {
      issues.push({
        path: ['params', name, 'default'],
        message: 'the default is not one of the allowed values',
      });
    }
  }
  const checkSteps = (steps: unknown, list: 'steps' | 'onFailure') => {
    if (!Array.isArray(steps)) return;
    steps.forEach((step: unknown, i) => {
      if (!isRecord(step)) return;
      for (const [key, value] of Object.entries(step)) {
        if (typeof value !== 'string' || key === 'kind') continue;
        for (const ref of referencesIn(value)) {
          if (!known.has(ref)) {
            issues.push({
              path: [list, i, key],
              message: `{{${ref}}} is not a parameter of this runbook; declared: ${[...known].join(', ')}`,
            });
          }
        }
      }
      if (typeof step.env === 'string' && referencesIn(step.env).length === 0 && !envs.has(step.env)) {
        issues.push({
          path: [list, i, 'env'],
          message: `unknown environment "${step.env}"; known: ${[...envs].join(', ')}`,
        });
      }
    });
  };
  checkSteps(runbook.steps, 'steps');
  checkSteps(runbook.onFailure, 'onFailure');
  const allowHosts = Array.isArray(runbook.allowHosts) ? runbook.allowHosts : [];
  const checks = (list: unknown, name: 'steps' | 'onFailure') =>
    (Array.isArray(list) ? list : []).flatMap((step: unknown, i) =>
      isRecord(step) && step.kind === 'http-check' ? [{ step, path: [name, i] as (string | number)[] }] : [],
    );
  const httpChecks = [...checks(runbook.steps, 'steps'), ...checks(runbook.onFailure, 'onFailure')];
  if (httpChecks.length > 0 && allowHosts.length === 0) {
    issues.push({
      path: ['allowHosts'],
      message: 'a runbook with http-check steps must list the hosts they may reach in allowHosts',
    });
  }
  for (const { step, path } of httpChecks) {
    const url = typeof step.url === 'string' ? step.url : '';
    if (allowHosts.length === 0 || referencesIn(url).length > 0 || !URL.canParse(url)) continue;
    const host = hostOf(url);
    if (!hostAllowed(allowHosts, host)) {
      issues.push({
        path: [...path, 'url'],
        message: `${host} is not in allowHosts (${allowHosts.join(', ')})`,
      });
    }
  }
  return issues;
}

function checkParamValue(
  name: string,
  param: RunbookParam,
  value: string,
  envs: ReadonlySet<string>,
  checkAllowed: boolean,
): string | undefined {
  switch (param.type) {
    case 'int':
      if (!/^(0|[1-9]\d{0,8})$/.test(value))
        return `${name} must be a whole number, 0 or more; got "${value}"`;
      break;
    case 'deployment':
      if (!Dns1123Label.safeParse(value).success) return `${name} must be a deployment name; got "${value}"`;
      break;
    case 'environment':
      if (!envs.has(value)) return `${name}: unknown environment "${value}"; known: ${[...envs].join(', ')}`;
      break;
    default:
      break;
  }
  if (checkAllowed && param.allowed && !param.allowed.map(String).includes(value)) {
    return `${name} must be one of ${param.allowed.join(', ')}; got "${value}"`;
  }
  return undefined;
}

/**
 * The values of a run: `key=value` words checked against the declared types and allowed values,
 * defaults filled in, and `env` set from the run's environment. Unknown or missing keys are refused.
 */
export function resolveParams(
  runbook: Runbook,
  given: Readonly<Record<string, string>>,
  environment: string,
  environments: readonly string[],
): Record<string, string | number> {
  const envs = new Set(environments);
  const values: Record<string, string | number> = { env: environment };
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(runbook.params, key)) {
      const declared = Object.keys(runbook.params);
      throw new UserInputError(
        `${runbook.name} has no parameter "${key}"${declared.length ? `; it takes ${declared.join(', ')}` : ''}.`,
      );
    }
  }
  for (const [name, param] of Object.entries(runbook.params)) {
    const raw =
      (Object.hasOwn(given, name) ? given[name] : undefined) ??
      (param.default === undefined ? undefined : String(param.default));
    if (raw === undefined) {
      throw new UserInputError(
        `${runbook.name} needs ${name}=<${param.type}>${param.description ? ` (${param.description})` : ''}.`,
      );
    }
    const problem = checkParamValue(name, param, raw, envs, true);
    if (problem) throw new UserInputError(`${problem}.`);
    values[name] = param.type === 'int' ? Number(raw) : raw;
  }
  return values;
}

/** `key=value` words of `/ops run`, in order; a repeated key is refused. */
export function parseAssignments(words: readonly string[]): Record<string, string> {
  // Keys are user text: a null-prototype object has no "constructor" or "toString" to collide with.
  const out: Record<string, string> = Object.create(null);
  for (const word of words) {
    const eq = word.indexOf('=');
    const key = eq > 0 ? word.slice(0, eq) : '';
    if (!/^[a-z][a-z0-9_]*$/.test(key)) {
      throw new UserInputError(`"${word}" is not a parameter; write key=value.`);
    }
    if (Object.hasOwn(out, key)) throw new UserInputError(`${key} is given more than once.`);
    out[key] = word.slice(eq + 1);
  }
  return out;
}

/** A step with every reference replaced and every value checked: what actually runs. */
export type PlannedStep =
  | { kind: 'rollback'; label: string; env: string; deployment: string; to?: number }
  | { kind: 'restart' | 'status'; label: string; env: string; deployment: string }
  | { kind: 'scale'; label: string; env: string; deployment: string; replicas: number }
  | { kind: 'wait-for-rollout'; label: string; env: string; deployment: string; timeout?: number }
  | {
      kind: 'http-check';
      label: string;
      env: string;
      url: string;
      expectStatus: number;
      timeout: number;
      /** The runbook's allowHosts: the only hosts the check and its redirects may reach. */
      allowHosts: string[];
    }
  | { kind: 'message'; label: string; env: string; text: string }
  | { kind: 'approval'; label: string; env: string; text: string };

export interface RunPlan {
  steps: PlannedStep[];
  onFailure: PlannedStep[];
}

/** Renders every step with the run's values; a value that is not valid once rendered is refused. */
export function planRun(
  runbook: Runbook,
  values: Readonly<Record<string, string | number>>,
  environments: readonly string[],
): RunPlan {
  const plan = (step: RunbookStep): PlannedStep => {
    const env = step.env === undefined ? String(values.env) : render(step.env, values);
    if (!environments.includes(env)) throw new UserInputError(`There is no environment "${env}".`);
    const name = (s: string | undefined) => (s === undefined ? undefined : render(s, values));
    const deployment = (ref: string) => {
      const value = render(ref, values);
      if (!Dns1123Label.safeParse(value).success)
        throw new UserInputError(`"${value}" is not a deployment name.`);
      return value;
    };
    const int = (ref: number | string, what: string) => {
      const value = typeof ref === 'number' ? String(ref) : render(ref, values);
      if (!/^(0|[1-9]\d{0,8})$/.test(value))
        throw new UserInputError(`${what} "${value}" is not a whole number.`);
      return Number(value);
    };
    switch (step.kind) {
      case 'rollback': {
        const d = deployment(step.deployment);
        return {
          kind: 'rollback',
          env,
          deployment: d,
          label: name(step.name) ?? `Roll back ${d} in ${env}`,
          ...(step.to === undefined ? {} : { to: int(step.to, 'to') }),
        };
      }
      case 'restart':
      case 'status': {
        const d = deployment(step.deployment);
        const verb = step.kind === 'restart' ? 'Restart' : 'Status of';
        return { kind: step.kind, env, deployment: d, label: name(step.name) ?? `${verb} ${d} in ${env}` };
      }
      case 'scale': {
        const d = deployment(step.deployment);
        const replicas = int(step.replicas, 'replicas');
        return {
          kind: 'scale',
          env,
          deployment: d,
          replicas,
          label: name(step.name) ?? `Scale ${d} in ${env} to ${replicas}`,
        };
      }
      case 'wait-for-rollout': {
        const d = deployment(step.deployment);
        return {
          kind: 'wait-for-rollout',
          env,
          deployment: d,
          label: name(step.name) ?? `Wait for ${d} to roll out in ${env}`,
          ...(step.timeout === undefined ? {} : { timeout: step.timeout }),
        };
      }
      case 'http-check': {
        const url = render(step.url, values);
        if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
          throw new UserInputError(`"${url}" is not an http(s) URL.`);
        if (new URL(url).username || new URL(url).password)
          throw new UserInputError(`"${hostOf(url)}": an http-check URL must not carry credentials.`);
        const allowHosts = runbook.allowHosts ?? [];
        if (!hostAllowed(allowHosts, hostOf(url))) {
          throw new UserInputError(
            `${runbook.name} may not check ${hostOf(url)}: its allowHosts ${allowHosts.length ? `are ${allowHosts.join(', ')}` : 'list no hosts'}.`,
          );
        }
        return {
          kind: 'http-check',
          env,
          url,
          expectStatus: step.expectStatus,
          timeout: step.timeout,
          allowHosts,
          label: name(step.name) ?? `Check ${url} answers ${step.expectStatus}`,
        };
      }
      case 'message':
        return { kind: 'message', env, text: render(step.text, values), label: name(step.name) ?? 'Message' };
      case 'approval':
        return {
          kind: 'approval',
          env,
          text: step.text === undefined ? 'Approve this run' : render(step.text, values),
          label: name(step.name) ?? 'Approval by a second person',
        };
    }
  };
  return { steps: runbook.steps.map(plan), onFailure: runbook.onFailure.map(plan) };
}

/** A URL's host as allowHosts entries name it: lowercase, IPv6 without brackets. */
export function hostOf(url: string): string {
  return new URL(url).hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
}

export type HostMatch = 'exact' | 'wildcard' | undefined;

/** How an allowHosts list admits a host: by its exact name, by a `*.` pattern, or not at all. */
export function matchHost(allowHosts: readonly string[], host: string): HostMatch {
  const h = host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  if (allowHosts.includes(h)) return 'exact';
  const wildcard = allowHosts.some(
    (p) => p.startsWith('*.') && h.endsWith(p.slice(1)) && h.length > p.length - 1,
  );
  return wildcard ? 'wildcard' : undefined;
}

export function hostAllowed(allowHosts: readonly string[], host: string): boolean {
  return matchHost(allowHosts, host) !== undefined;
}

/** The permissions a run needs: each distinct (action, environment) of its steps and onFailure steps. */
export function requiredPermissions(plan: RunPlan): { action: Action; environment: string }[] {
  const seen = new Map<string, { action: Action; environment: string }>();
  for (const step of [...plan.steps, ...plan.onFailure]) {
    const action = actionOfStep(step.kind);
    if (action) seen.set(`${action}@${step.env}`, { action, environment: step.env });
  }
  return [...seen.values()];
}

function labelMatches(matcher: LabelMatcher, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (typeof matcher === 'string') return matcher === value;
  return new RegExp(`^(?:${matcher.regex})$`).test(value);
}

/** The runbooks whose `match` rules all hold for these alert labels; runbooks without rules never match. */
export function matchRunbooks(
  runbooks: readonly Runbook[],
  labels: Readonly<Record<string, string>>,
): Runbook[] {
  return runbooks.filter((runbook) => {
    const rules = Object.entries(runbook.match ?? {});
    return rules.length > 0 && rules.every(([label, matcher]) => labelMatches(matcher, labels[label]));
  });
}
