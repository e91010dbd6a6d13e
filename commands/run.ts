import type { OpsbotConfig } from '../src/config/schema.js';
import { OpsError, StateError, UserInputError, userMessageOf } from '../src/core/errors.js';
import { type ArgsParser, type ParsedInput, Reason } from '../src/core/grammar.js';
import { type Message, message } from '../src/core/message.js';
import { authorize } from '../src/core/policy.js';
import {
  type PlannedStep,
  parseAssignments,
  planRun,
  type Runbook,
  type RunbookParam,
  type RunPlan,
  requiredPermissions,
  resolveParams,
} from '../src/core/runbook.js';
import { slackText } from '../src/core/text.js';
import { StepReversal } from '../src/core/undo.js';
import { coalesce } from '../src/engine/coalesce.js';
import {
  type Checkpoint,
  commandsWith,
  type InlineContext,
  type Outcome,
  type RunContext,
} from '../src/engine/command-module.js';
import type { StepKind } from '../src/runbooks/steps/index.js';

/** What `/ops run` runs with: the runbooks loaded at start-up and the step kinds of the registry. */
export interface RunbookServices {
  runbooks: readonly Runbook[];
  kinds: readonly StepKind[];
}

const defineRunbookCommand = commandsWith<RunbookServices>();

export interface RunArgs {
  runbook: string;
  params: Record<string, string>;
  env: string;
  dryRun: boolean;
  reason?: string | undefined;
}

/** What a finished (or failed) step left behind; kept in the job's checkpoints so a retry skips it. */
interface StepResult {
  state: 'done' | 'failed';
  detail: string;
  /** How a step that changed something is undone; kept with the step so a retried run still knows. */
  reversal?: StepReversal;
}

const FLAGS = ['env', 'dry-run', 'reason'];
const UPDATE_INTERVAL_MS = 1_100;

function parseRun(input: ParsedInput): RunArgs {
  for (const flag of Object.keys(input.flags)) {
    if (!FLAGS.includes(flag)) throw new UserInputError(`Unknown flag --${flag}.`);
  }
  const [runbook, ...rest] = input.words;
  if (!runbook) throw new UserInputError('<runbook> is required.');
  const env = input.flags.env;
  if (env === undefined) throw new UserInputError('--env is required.');
  if (env === true) throw new UserInputError('--env needs a value.');
  const dryRun = input.flags['dry-run'];
  if (dryRun !== undefined && dryRun !== true) throw new UserInputError('--dry-run takes no value.');
  let reason: string | undefined;
  if (input.flags.reason !== undefined) {
    const parsed = Reason.safeParse(input.flags.reason === true ? '' : input.flags.reason);
    if (!parsed.success)
      throw new UserInputError(`--reason ${parsed.error.issues[0]?.message ?? 'is invalid'}.`);
    reason = parsed.data;
  }
  return { runbook, params: parseAssignments(rest), env, dryRun: dryRun === true, reason };
}

function findRunbook(runbooks: readonly Runbook[], name: string): Runbook {
  const runbook = runbooks.find((r) => r.name === name);
  if (!runbook) {
    const known = runbooks.map((r) => r.name).join(', ') || 'none are loaded';
    throw new UserInputError(`There is no runbook "${name}". Known: ${known}.`);
  }
  return runbook;
}

function planOf(services: RunbookServices, config: OpsbotConfig, args: RunArgs) {
  const runbook = findRunbook(services.runbooks, args.runbook);
  const environments = Object.keys(config.environments);
  const values = resolveParams(runbook, args.params, args.env, environments);
  return { runbook, plan: planRun(runbook, values, { environments, config, kinds: services.kinds }) };
}

/** A value of the parameter's type, to plan a runbook for a listing without anyone's input. */
function sampleValue(param: RunbookParam, environment: string): string {
  if (param.default !== undefined) return String(param.default);
  if (param.allowed?.[0] !== undefined) return String(param.allowed[0]);
  if (param.type === 'int') return '1';
  if (param.type === 'environment') return environment;
  return 'sample';
}

/** The environments where this user may run the runbook: `run` there, and every step's own permission. */
function environmentsToRun(services: RunbookServices, ctx: InlineContext, runbook: Runbook): string[] {
  const environments = Object.keys(ctx.config.environments);
  return environments.filter((environment) => {
    if (!authorize(ctx.config, ctx.principal, 'run', environment).allowed) return false;
    const sample = Object.fromEntries(
      Object.entries(runbook.params).map(([name, param]) => [name, sampleValue(param, environment)]),
    );
    try {
      const values = resolveParams(runbook, sample, environment, environments);
      const plan = planRun(runbook, values, { environments, config: ctx.config, kinds: services.kinds });
      return requiredPermissions(plan).every(
        (need) => authorize(ctx.config, ctx.principal, need.action, need.environment).allowed,
      );
    } catch (err) {
      // Sample values a parameter refuses (a URL it checks) leave `run` as the test; the ack checks the rest.
      if (err instanceof OpsError) return true;
      throw err;
    }
  });
}

/** One parameter as the listing shows it: name, type, and what it takes or defaults to. */
function describeParam(name: string, param: RunbookParam): string {
  const facts = [
    param.type,
    param.default !== undefined ? `default ${param.default}` : 'required',
    ...(param.allowed ? [`one of ${param.allowed.join(', ')}`] : []),
  ];
  return `    \`${name}=\` (${facts.join('; ')})${param.description ? `: ${slackText(param.description)}` : ''}`;
}

/** `/ops run` alone: the runbooks this user may run, where, and with which parameters. */
function listRunbooks(services: RunbookServices, ctx: InlineContext): Message {
  const entries = services.runbooks.flatMap((runbook) => {
    const where = environmentsToRun(services, ctx, runbook);
    if (where.length === 0) return [];
    return [
      `• \`${runbook.name}\` — ${slackText(runbook.description)} (in ${where.join(', ')})`,
      ...Object.entries(runbook.params).map(([name, param]) => describeParam(name, param)),
    ];
  });
  const usage = 'Usage: `/ops run <runbook> [key=value ...] --env <env> [--dry-run] [--reason "<text>"]`';
  if (entries.length === 0) {
    const text = 'There is no runbook you may run here.';
    return message(text, { lines: [text, usage] });
  }
  return message('Runbooks you may run', { lines: ['*Runbooks you may run:*', ...entries, usage] });
}

/** A second person approves a run that has an approval step or changes a protected environment. */
function runNeedsApproval(config: OpsbotConfig, plan: RunPlan): boolean {
  return [...plan.steps, ...plan.onFailure].some(
    (s) => s.approval === true || (s.mutates && config.environments[s.env]?.protected === true),
  );
}

/** Keys of one step live under their own prefix, so the commands' own retry checkpoints never collide. */
function scopedCheckpoint(parent: Checkpoint, prefix: string): Checkpoint {
  return {
    get: <T>(key: string) => parent.get<T>(`${prefix}.${key}`),
    set: (key, value) => parent.set(`${prefix}.${key}`, value),
  };
}

/** The last body line of a command's progress message: what the step is doing now. */
function latestLine(msg: Message): string {
  return msg.lines?.at(-1) ?? msg.text;
}

/** The kind that planned a step: it previews and runs it. */
function kindOf(kinds: readonly StepKind[], step: PlannedStep): StepKind {
  const kind = kinds.find((k) => k.kind === step.kind);
  if (!kind) throw new UserInputError(`Step kind "${step.kind}" is not available here.`);
  return kind;
}

const ICON = {
  pending: ':white_circle:',
  running: ':hourglass_flowing_sand:',
  done: ':white_check_mark:',
  failed: ':x:',
  skipped: ':heavy_minus_sign:',
};

/**
 * `/ops run <runbook> [key=value …] --env <env> [--dry-run] [--reason "<text>"]`. The runbooks are
 * loaded at start-up and handed in here, so the ack and the worker judge a request by the same files.
 */
const parse: ArgsParser<RunArgs> = Object.assign(parseRun, {
  positionals: ['runbook'],
  flags: FLAGS,
  args: [
    { name: 'runbook', positional: true, required: true, takesValue: true },
    { name: 'env', positional: false, required: true, takesValue: true },
    { name: 'dry-run', positional: false, required: false, takesValue: false },
    { name: 'reason', positional: false, required: false, takesValue: true },
  ],
});

export const run = defineRunbookCommand({
  name: 'run',
  summary: 'Run a runbook from runbooks/, step by step; --dry-run shows the plan and changes nothing',
  usage: '/ops run <runbook> [key=value ...] --env <env> [--dry-run] [--reason "<text>"]',
  action: 'run',
  parse,
  scope: (args) => ({ environment: args.env, target: args.runbook, reason: args.reason }),

  listing(ctx, input, services) {
    return input.words.length === 0 ? listRunbooks(services, ctx) : undefined;
  },

  check(config, args, services) {
    const { runbook, plan } = planOf(services, config, args);
    // The kinds' own ack-path checks (a scale step's bounds) hold for their steps too.
    for (const step of [...plan.steps, ...plan.onFailure]) kindOf(services.kinds, step).check?.(config, step);
    if (!args.dryRun && !args.reason && runNeedsApproval(config, plan)) {
      throw new UserInputError(
        `${runbook.name} needs a second person's approval here: say why with --reason "<text>".`,
      );
    }
  },

  requires(config, args, services) {
    return requiredPermissions(planOf(services, config, args).plan);
  },

  needsApproval(config, args, services) {
    return !args.dryRun && runNeedsApproval(config, planOf(services, config, args).plan);
  },

  async preview(ctx, args) {
    const { runbook, plan } = planOf(ctx.services, ctx.config, args);
    const lines = [`Runbook *${runbook.name}*: ${runbook.description}`];
    for (const [i, step] of plan.steps.entries()) {
      lines.push(
        `${i + 1}. ${slackText(step.label)}`,
        ...(
          await kindOf(ctx.services.kinds, step)
            .preview(ctx, step, args.reason)
            .catch((err: unknown) => [`:warning: ${slackText(userMessageOf(err))}`])
        ).map((l) => `   ${l}`),
      );
    }
    if (plan.onFailure.length)
      lines.push(`On failure: ${plan.onFailure.map((s) => slackText(s.label)).join('; ')}`);
    return { lines, specVersion: undefined };
  },

  async run(ctx, args): Promise<Outcome> {
    const { runbook, plan } = planOf(ctx.services, ctx.config, args);
    const base = {
      environment: args.env,
      args: { runbook: runbook.name, params: args.params },
      reason: args.reason,
    };
    if (args.dryRun) return dryRun(ctx, runbook, plan, args, base);

    const rows: { label: string; state: keyof typeof ICON; detail?: string }[] = [
      ...plan.steps.map((s) => ({ label: s.label, state: 'pending' as const })),
    ];
    const failureRows: typeof rows = [];
    // Labels, details and headlines carry parameter values and step text: escaped, one line each.
    const row = (r: (typeof rows)[number], i: number) =>
      `${ICON[r.state]} ${i + 1}. ${slackText(r.label)}${r.detail ? ` — ${slackText(r.detail)}` : ''}`;
    const render = (headline: string): Message =>
      message(slackText(headline), {
        lines: [
          `:scroll: *${runbook.name}* in *${args.env}*: ${slackText(headline)}`,
          ...rows.map(row),
          ...(failureRows.length ? ['*On failure:*'] : []),
          ...failureRows.map(row),
        ],
      });
    const updates = coalesce((msg: Message) => ctx.progress(msg), UPDATE_INTERVAL_MS);

    const execute = async (
      list: 'step' | 'fail',
      i: number,
      step: PlannedStep,
      row: (typeof rows)[number],
    ) => {
      const key = `${list}.${i}`;
      const earlier = ctx.checkpoint.get<StepResult>(key);
      if (earlier) {
        // Finished in an earlier attempt: never run twice.
        row.state = earlier.state;
        row.detail = earlier.detail;
        return earlier.state === 'done';
      }
      row.state = 'running';
      updates.push(render(`running step ${i + 1}: ${step.label}`));
      const stepCtx: RunContext = {
        ...ctx,
        checkpoint: scopedCheckpoint(ctx.checkpoint, key),
        // Each step acts on the state the previous ones left; the approved plan covered the whole run.
        expectUnchanged: () => {},
        progress: async (msg) => {
          row.detail = latestLine(msg);
          updates.push(render(`running step ${i + 1}: ${step.label}`));
        },
      };
      const kind = kindOf(ctx.services.kinds, step);
      const action = step.permission?.action ?? `run.${step.kind}`;
      const recordId = `${ctx.job.id}-${list}${i + 1}`;
      const label = `${runbook.name} ${list === 'fail' ? 'onFailure ' : ''}step ${i + 1} (${step.label})`;
      // A changing step holds the same target lock as the single command would, so they never overlap.
      const lock =
        step.lockKey && ctx.lock
          ? await ctx.lock(step.lockKey, `run ${runbook.name} (job ${ctx.job.id})`)
          : undefined;
      if (lock && !lock.acquired) {
        row.detail = `waiting behind ${lock.heldBy}`;
        updates.push(render(`step ${i + 1} is waiting behind ${lock.heldBy}`));
        // Busy: the queue tries the job again later; the steps already done are skipped then.
        throw new StateError('busy', `waiting behind ${lock.heldBy}`, { retryable: true });
      }
      let result: Awaited<ReturnType<StepKind['run']>>;
      try {
        result = await kind.run(stepCtx, step, args.reason);
      } catch (err) {
        // A transient failure (a 503, a timeout) is retried with the job, as the single command's
        // would be; the steps already done are skipped then. Only a final failure fails the step.
        const retryable = err instanceof OpsError ? err.retryable : true;
        if (retryable && !ctx.attempt.last) throw err;
        const why = userMessageOf(err);
        row.state = 'failed';
        row.detail = why;
        // Audit first, then checkpoint: a crash in between re-audits under the same id, which dedupes.
        await ctx.audit?.({
          environment: step.env,
          ...(args.reason ? { reason: args.reason } : {}),
          args: { runbook: runbook.name, step: i + 1, kind: step.kind },
          id: recordId,
          outcome: 'failed',
          action,
          message: `${label} failed: ${why}`,
        });
        await ctx.checkpoint.set(key, { state: 'failed', detail: why } satisfies StepResult);
        return false;
      } finally {
        if (lock?.acquired) await lock.release().catch(() => undefined);
      }
      const state = result.failedCheck ? 'failed' : 'done';
      const detail = result.failedCheck ? `${result.detail} ${result.failedCheck}` : result.detail;
      row.state = state;
      row.detail = detail;
      // A failure to audit or checkpoint here is not the step's: it propagates, the job is retried, and
      // the step resumes from its own checkpoints without applying anything twice.
      await ctx.audit?.({
        environment: step.env,
        ...(args.reason ? { reason: args.reason } : {}),
        ...result.audit,
        args: { runbook: runbook.name, step: i + 1, kind: step.kind, ...(result.audit.args ?? {}) },
        id: recordId,
        outcome: 'executed',
        action,
        message: `${label}: ${detail}`,
      });
      await ctx.checkpoint.set(key, {
        state,
        detail,
        ...(result.reversal ? { reversal: result.reversal } : {}),
      } satisfies StepResult);
      ctx.failpoint('between-steps');
      return state === 'done';
    };

    let failedAt: number | undefined;
    try {
      for (const [i, step] of plan.steps.entries()) {
        if (!(await execute('step', i, step, rows[i]!))) {
          failedAt = i;
          break;
        }
      }
      if (failedAt !== undefined) {
        for (const row of rows.slice(failedAt + 1)) row.state = 'skipped';
        failureRows.push(...plan.onFailure.map((s) => ({ label: s.label, state: 'pending' as const })));
        for (const [i, step] of plan.onFailure.entries()) await execute('fail', i, step, failureRows[i]!);
      }
    } finally {
      await updates.cancel();
    }

    if (failedAt === undefined) {
      const text = `${runbook.name} finished: ${plan.steps.length} of ${plan.steps.length} steps done.`;
      // What each changing step saved, in the order they ran: an undo reverses them newest first.
      const steps = plan.steps.flatMap((step, i) => {
        const saved = StepReversal.safeParse(ctx.checkpoint.get<StepResult>(`step.${i}`)?.reversal);
        return saved.success ? [{ label: `step ${i + 1} (${step.label})`, reversal: saved.data }] : [];
      });
      return {
        outcome: 'executed',
        message: render(text),
        audit: { ...base },
        ...(steps.length ? { reversal: { kind: 'steps' as const, steps } } : {}),
      };
    }
    const ranOnFailure = failureRows.filter((r) => r.state === 'done').length;
    const text = `${runbook.name} failed at step ${failedAt + 1} (${plan.steps[failedAt]!.label}): ${rows[failedAt]!.detail ?? ''}${plan.onFailure.length ? ` onFailure: ${ranOnFailure} of ${plan.onFailure.length} steps done.` : ''}`;
    return { outcome: 'failed', message: render(text), audit: { ...base } };
  },
});

async function dryRun(
  ctx: RunContext<RunbookServices>,
  runbook: Runbook,
  plan: RunPlan,
  args: RunArgs,
  base: Outcome['audit'],
): Promise<Outcome> {
  const lines = [`:mag: *Dry run* of *${runbook.name}* in *${args.env}*: ${runbook.description}`];
  const describe = async (steps: PlannedStep[]) => {
    for (const [i, step] of steps.entries()) {
      let detail: string[];
      try {
        detail = await kindOf(ctx.services.kinds, step).preview(ctx, step, args.reason);
      } catch (err) {
        detail = [`:warning: ${slackText(userMessageOf(err))}`];
      }
      lines.push(`${i + 1}. ${slackText(step.label)}`, ...detail.map((l) => `      ${l}`));
    }
  };
  await describe(plan.steps);
  if (plan.onFailure.length) {
    lines.push('*On failure:*');
    await describe(plan.onFailure);
  }
  lines.push(
    'Each step was planned against the cluster as it is now (server-side dry run). Nothing was changed.',
  );
  return {
    outcome: 'noop',
    message: message(`Dry run of ${runbook.name} in ${args.env}: nothing was changed.`, { lines }),
    audit: { ...base, args: { ...base.args, dryRun: true } },
  };
}
