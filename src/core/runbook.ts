import { z } from 'zod';
import { UserInputError } from './errors.js';
import { Dns1123Label } from './names.js';
import type { Action } from './policy.js';

/** `{{name}}` in a step value: replaced by the parameter's value when the run is planned. */
const REFERENCE = /\{\{\s*([^}\s]*)\s*\}\}/g;
/** `--env` of the run; every runbook can use it without declaring it. */
export const BUILTIN_PARAMS: readonly string[] = ['env'];

const ParamName = z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be lowercase letters, digits and "_"');
const Scalar = z.union([z.string(), z.int()]);

/** A text value that may contain `{{param}}` references. */
export const Text = z.string().min(1);
/** A deployment name, literal or `{{param}}`. */
export const DeploymentRef = z
  .string()
  .regex(
    /^([a-z0-9-]|\{\{\s*[a-z][a-z0-9_]*\s*\}\})+$/,
    'must be a deployment name or a {{param}} reference',
  );
/** Any argument of a command used as a step: text or a whole number, either may be a `{{param}}`. */
export const ArgValue = z.union([Text, z.int()]);

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

/**
 * What the runbook format needs to know of a step kind: its name, what it does, and its fields
 * (values may hold `{{param}}` references). The kinds are a registry (src/runbooks/steps): every
 * command with `step` is one, beside the runbook-only kinds; this module only assembles them.
 */
export interface StepShape {
  kind: string;
  description: string;
  fields: z.ZodRawShape;
}

/** The fields every step has, whatever its kind. */
const StepBase = {
  /** What the step is called in the progress message; defaults to a description of it. */
  name: z.string().min(1).optional(),
  /** Another environment than the run's own; literal or `{{param}}`. */
  env: Text.optional(),
};

/** One step of a runbook file, as written: its kind, its name and env, and the kind's own fields. */
export interface RunbookStep {
  kind: string;
  name?: string | undefined;
  env?: string | undefined;
  [field: string]: unknown;
}

/** The schema of one step: a union over the registered kinds, discriminated by `kind`. */
export function stepSchema(kinds: readonly StepShape[]): z.ZodType<RunbookStep> {
  const names = kinds.map((k) => k.kind);
  const [first, ...rest] = kinds.map((k) =>
    z
      .strictObject({ kind: z.literal(k.kind), ...StepBase, ...k.fields })
      .meta({ description: k.description }),
  );
  if (!first) throw new Error('no runbook step kinds are registered');
  return z.discriminatedUnion('kind', [first, ...rest], {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `unknown step kind${typeof (issue.input as { kind?: unknown } | undefined)?.kind === 'string' ? ` "${(issue.input as { kind: string }).kind}"` : ''}; expected one of ${names.join(', ')}`
        : undefined,
  }) as unknown as z.ZodType<RunbookStep>;
}

/** The runbook file format for the registered step kinds. */
export function runbookSchema(kinds: readonly StepShape[]) {
  const step = stepSchema(kinds);
  return z.strictObject({
    name: Dns1123Label.meta({ description: 'Unique; /ops run <name>' }),
    description: z.string().min(1).meta({ description: 'One line: what the runbook is for' }),
    params: z.record(ParamName, RunbookParam).default({}),
    /** Alert labels this runbook answers; all must match. Offered as a button on matching incidents. */
    match: z.record(z.string().min(1), LabelMatcher).optional(),
    allowHosts: z.array(HostPattern).optional().meta({
      description:
        'Hosts its http-check steps may reach (names, IPs, or "*.example.com"). A host named exactly may resolve to a private, loopback or link-local address; one matched by "*." only to public ones. Redirects are followed only to these hosts.',
    }),
    steps: z.array(step).min(1).meta({ description: 'Run in order; the first failure stops the run' }),
    /** Run, in order, after the first failing step; their own failures are reported, not chained. */
    onFailure: z.array(step).default([]),
  });
}

export interface Runbook {
  name: string;
  description: string;
  params: Record<string, RunbookParam>;
  match?: Record<string, LabelMatcher> | undefined;
  allowHosts?: string[] | undefined;
  steps: RunbookStep[];
  onFailure: RunbookStep[];
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
  /** A step kind's own checks of a step against its runbook (an http-check's host against allowHosts). */
  checkStep?(
    step: Record<string, unknown>,
    runbook: Partial<Runbook>,
    path: (string | number)[],
  ): RunbookIssue[];
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
export function crossCheckRunbook(runbook: Partial<Runbook>, context: CrossCheckContext): RunbookIssue[] {
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
  for (const [list, steps] of [
    ['steps', runbook.steps],
    ['onFailure', runbook.onFailure],
  ] as const) {
    (Array.isArray(steps) ? steps : []).forEach((step: unknown, i) => {
      if (isRecord(step)) issues.push(...(context.checkStep?.(step, runbook, [list, i]) ?? []));
    });
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

/**
 * A step with every reference replaced and every value checked, as its kind planned it: what
 * actually runs, what it needs, and what it is called.
 */
export interface PlannedStep<P = unknown> {
  kind: string;
  label: string;
  env: string;
  /** What the kind made of the step's fields: a command's parsed arguments, a URL… */
  params: P;
  /** The permission the step needs beyond `run`; none for steps that touch nothing. */
  permission?: { action: Action; environment: string } | undefined;
  /** It changes something: it takes the target's lock, and in a protected environment needs approval. */
  mutates: boolean;
  /** The lock it holds while it runs, the same one the single command takes. */
  lockKey?: string | undefined;
  /** An approval step: a second person approves the run before it starts. */
  approval?: boolean | undefined;
}

/**
 * A step kind as planning sees it: it checks the rendered fields and says what the step will do.
 * `config` is the bot's configuration, passed through untouched for the kinds that need it.
 */
export interface StepPlanner<P = unknown, C = unknown> extends StepShape {
  plan(
    fields: Readonly<Record<string, string | number>>,
    env: string,
    context: { runbook: Runbook; config: C },
  ): Omit<PlannedStep<P>, 'kind' | 'env' | 'label'> & { label: string };
}

export interface RunPlan {
  steps: PlannedStep[];
  onFailure: PlannedStep[];
}

/** Renders every step with the run's values; a value that is not valid once rendered is refused. */
export function planRun<C>(
  runbook: Runbook,
  values: Readonly<Record<string, string | number>>,
  context: { environments: readonly string[]; config: C; kinds: readonly StepPlanner<unknown, C>[] },
): RunPlan {
  const { environments, kinds } = context;
  const plan = (step: RunbookStep): PlannedStep => {
    const kind = kinds.find((k) => k.kind === step.kind);
    if (!kind) throw new UserInputError(`Step kind "${step.kind}" is not available here.`);
    const env = step.env === undefined ? String(values.env) : render(step.env, values);
    if (!environments.includes(env)) throw new UserInputError(`There is no environment "${env}".`);
    const fields: Record<string, string | number> = Object.create(null);
    for (const [key, value] of Object.entries(step)) {
      if (key === 'kind' || key === 'name' || key === 'env') continue;
      if (typeof value === 'string') fields[key] = render(value, values);
      else if (typeof value === 'number') fields[key] = value;
    }
    const planned = kind.plan(fields, env, { runbook, config: context.config });
    return {
      ...planned,
      kind: step.kind,
      env,
      label: step.name === undefined ? planned.label : render(step.name, values),
    };
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
    if (step.permission)
      seen.set(`${step.permission.action}@${step.permission.environment}`, step.permission);
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
