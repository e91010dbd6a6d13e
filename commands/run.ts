import type { OpsbotConfig } from '../src/config/schema.js';
import { formatDuration } from '../src/core/duration.js';
import { OpsError, StateError, UserInputError, userMessageOf } from '../src/core/errors.js';
import { Reason } from '../src/core/grammar.js';
import { type Message, message } from '../src/core/message.js';
import {
  actionOfStep,
  type PlannedStep,
  parseAssignments,
  planRun,
  type Runbook,
  type RunPlan,
  requiredPermissions,
  resolveParams,
} from '../src/core/runbook.js';
import { slackText } from '../src/core/text.js';
import { coalesce } from '../src/engine/coalesce.js';
import {
  type AuditDetails,
  type Checkpoint,
  type CommandModule,
  type Outcome,
  RESUMED_NOTE,
  type RunContext,
} from '../src/engine/command-module.js';
import { rolloutLine, watchRollout } from '../src/engine/watch-rollout.js';
import { HostRefused, httpCheck } from '../src/runbooks/http-check.js';
import { restart } from './restart.js';
import { rollback } from './rollback.js';
import { scale } from './scale.js';
import { status } from './status.js';

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
}

const FLAGS = ['env', 'dry-run', 'reason'];
const UPDATE_INTERVAL_MS = 1_100;
const MUTATING_KINDS = new Set(['rollback', 'restart', 'scale']);

/** A step whose check did not pass (an HTTP status, a rollout that did not complete). */
class StepFailed extends OpsError {
  constructor(text: string) {
    super('external_rejected', text);
  }
}

function parseRun(input: { words: string[]; flags: Record<string, string | true> }): RunArgs {
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

function planOf(runbooks: readonly Runbook[], config: OpsbotConfig, args: RunArgs) {
  const runbook = findRunbook(runbooks, args.runbook);
  const environments = Object.keys(config.environments);
  const values = resolveParams(runbook, args.params, args.env, environments);
  return { runbook, plan: planRun(runbook, values, environments) };
}

/** A second person approves a run that has an approval step or changes a protected environment. */
function runNeedsApproval(config: OpsbotConfig, plan: RunPlan): boolean {
  const all = [...plan.steps, ...plan.onFailure];
  return all.some(
    (s) =>
      s.kind === 'approval' || (MUTATING_KINDS.has(s.kind) && config.environments[s.env]?.protected === true),
  );
}

/** Keys of one step live under their own prefix, so the commands' own retry checkpoints never collide. */
function scopedCheckpoint(parent: Checkpoint, prefix: string): Checkpoint {
  return {
    get: <T>(key: string) => parent.get<T>(`${prefix}.${key}`),
    set: (key, value) => parent.set(`${prefix}.${key}`, value),
  };
}

function memoryCheckpoint(): Checkpoint {
  const values = new Map<string, unknown>();
  return {
    get: <T>(key: string) => values.get(key) as T | undefined,
    async set(key, value) {
      values.set(key, value);
    },
  };
}

function commandInput(
  step: { deployment: string; env: string },
  reason: string | undefined,
  extra: string[] = [],
) {
  return {
    words: [step.deployment, ...extra],
    flags: { env: step.env, ...(reason ? { reason } : {}) } as Record<string, string | true>,
  };
}

/** The last body line of a command's progress message: what the step is doing now. */
function latestLine(msg: Message): string {
  return msg.lines?.at(-1) ?? msg.text;
}

/**
 * Runs one step for real; returns a one-line account, or throws when the step failed before it
 * changed anything. A step whose change was applied but whose rollout did not complete returns
 * `failedCheck`: its record says "executed" (as the single command's would), and the run stops there.
 */
async function runStep(
  ctx: RunContext,
  step: PlannedStep,
  reason: string | undefined,
): Promise<{ detail: string; audit: AuditDetails; failedCheck?: string }> {
  const checkRollout = (outcome: Outcome) => {
    const rollout = outcome.audit.rollout;
    const detail = outcome.resumed ? `${outcome.message.text} (${RESUMED_NOTE})` : outcome.message.text;
    if (rollout && rollout.state !== 'complete')
      return { detail, audit: outcome.audit, failedCheck: rolloutLine(rollout) };
    return { detail, audit: outcome.audit };
  };
  switch (step.kind) {
    case 'rollback': {
      const input = commandInput(step, reason);
      if (step.to !== undefined) input.flags.to = String(step.to);
      return checkRollout(await rollback.run!(ctx, rollback.parse(input)));
    }
    case 'restart':
      return checkRollout(await restart.run!(ctx, restart.parse(commandInput(step, reason))));
    case 'scale':
      return checkRollout(
        await scale.run!(ctx, scale.parse(commandInput(step, reason, [String(step.replicas)]))),
      );
    case 'status': {
      const outcome = await status.run!(ctx, status.parse(commandInput(step, undefined)));
      return { detail: outcome.message.text, audit: outcome.audit };
    }
    case 'wait-for-rollout': {
      const target = ctx.target(step.env);
      const timeout = step.timeout ?? ctx.config.rollout.timeout;
      const waitCtx = { ...ctx, config: { ...ctx.config, rollout: { ...ctx.config.rollout, timeout } } };
      const result = await watchRollout(waitCtx, target, step.deployment, [`:hourglass: ${step.label}`]);
      if (result.state !== 'complete') throw new StepFailed(rolloutLine(result));
      return {
        detail: `${step.deployment} rolled out: ${result.detail}`,
        audit: {
          target: step.deployment,
          namespace: target.namespace,
          environment: step.env,
          rollout: result,
        },
      };
    }
    case 'http-check': {
      let answered: number;
      try {
        const res = await httpCheck(step.url, {
          allowHosts: step.allowHosts,
          timeoutMs: step.timeout,
          // A step that expects a redirect sees it; any other follows it, within allowHosts only.
          followRedirects: step.expectStatus < 300 || step.expectStatus > 399,
        });
        answered = res.status;
      } catch (err) {
        const why =
          err instanceof HostRefused
            ? `refused: ${err.message}`
            : (err as Error).name === 'TimeoutError'
              ? `no answer within ${formatDuration(step.timeout)}`
              : 'unreachable';
        throw new StepFailed(`${step.url} ${why}.`);
      }
      if (answered !== step.expectStatus) {
        throw new StepFailed(`${step.url} answered ${answered}, expected ${step.expectStatus}.`);
      }
      return {
        detail: `${step.url} answered ${answered}.`,
        audit: { args: { url: step.url, status: answered } },
      };
    }
    case 'message':
      return { detail: step.text, audit: { args: { text: step.text } } };
    case 'approval': {
      const job = ctx.job;
      if (job.approver) {
        const by = job.approver.name ? `@${job.approver.name}` : `<@${job.approver.id}>`;
        return { detail: `Approved by ${by} before the run started.`, audit: {} };
      }
      if (job.emergency) return { detail: 'Skipped: break-glass run (--emergency).', audit: {} };
      throw new StateError(
        'conflict',
        'This run was not approved by a second person; nothing after this step ran.',
      );
    }
  }
}

/** What a step would do, from server-side dry runs where the step changes something. */
async function previewStep(
  ctx: RunContext,
  step: PlannedStep,
  reason: string | undefined,
): Promise<string[]> {
  const dryCtx: RunContext = { ...ctx, checkpoint: memoryCheckpoint(), expectUnchanged: () => {} };
  switch (step.kind) {
    case 'rollback': {
      const input = commandInput(step, reason);
      if (step.to !== undefined) input.flags.to = String(step.to);
      return (await rollback.preview!(dryCtx, rollback.parse(input))).lines;
    }
    case 'restart':
      return (await restart.preview!(dryCtx, restart.parse(commandInput(step, reason)))).lines;
    case 'scale':
      return (await scale.preview!(dryCtx, scale.parse(commandInput(step, reason, [String(step.replicas)]))))
        .lines;
    case 'status':
      return [`Would read the status of ${step.deployment} in ${step.env}.`];
    case 'wait-for-rollout':
      return [
        `Would wait up to ${formatDuration(step.timeout ?? ctx.config.rollout.timeout)} for ${step.deployment} to roll out.`,
      ];
    case 'http-check':
      return [`Would expect ${step.expectStatus} from ${slackText(step.url)} (no request sent).`];
    case 'message':
      return [`Would say: ${slackText(step.text)}`];
    case 'approval':
      return ['Needs a second person to approve before the run starts.'];
  }
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
export function createRunCommand(runbooks: readonly Runbook[]): CommandModule<RunArgs> {
  const parse = Object.assign(parseRun, { positionals: ['runbook'], flags: FLAGS });
  return {
    name: 'run',
    summary: 'Run a runbook from runbooks/, step by step; --dry-run shows the plan and changes nothing',
    usage: '/ops run <runbook> [key=value ...] --env <env> [--dry-run] [--reason "<text>"]',
    action: 'run',
    parse,
    scope: (args) => ({ environment: args.env, target: args.runbook, reason: args.reason }),

    check(config, args) {
      const { runbook, plan } = planOf(runbooks, config, args);
      // The commands' own ack-path checks (scale bounds) hold for their steps too.
      for (const step of [...plan.steps, ...plan.onFailure]) {
        if (step.kind === 'scale')
          scale.check?.(config, scale.parse(commandInput(step, undefined, [String(step.replicas)])));
      }
      if (!args.dryRun && !args.reason && runNeedsApproval(config, plan)) {
        throw new UserInputError(
          `${runbook.name} needs a second person's approval here: say why with --reason "<text>".`,
        );
      }
    },

    requires(config, args) {
      return requiredPermissions(planOf(runbooks, config, args).plan);
    },

    needsApproval(config, args) {
      return !args.dryRun && runNeedsApproval(config, planOf(runbooks, config, args).plan);
    },

    async preview(ctx, args) {
      const { runbook, plan } = planOf(runbooks, ctx.config, args);
      const lines = [`Runbook *${runbook.name}*: ${runbook.description}`];
      for (const [i, step] of plan.steps.entries()) {
        lines.push(
          `${i + 1}. ${slackText(step.label)}`,
          ...(
            await previewStep(ctx, step, args.reason).catch((err: unknown) => [
              `:warning: ${slackText(userMessageOf(err))}`,
            ])
          ).map((l) => `   ${l}`),
        );
      }
      if (plan.onFailure.length)
        lines.push(`On failure: ${plan.onFailure.map((s) => slackText(s.label)).join('; ')}`);
      return { lines, resourceVersion: undefined };
    },

    async run(ctx, args): Promise<Outcome> {
      const { runbook, plan } = planOf(runbooks, ctx.config, args);
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
        const action = actionOfStep(step.kind) ?? `run.${step.kind}`;
        const recordId = `${ctx.job.id}-${list}${i + 1}`;
        const label = `${runbook.name} ${list === 'fail' ? 'onFailure ' : ''}step ${i + 1} (${step.label})`;
        // A changing step holds the same target lock as the single command would, so they never overlap.
        const lock =
          MUTATING_KINDS.has(step.kind) && 'deployment' in step && ctx.lock
            ? await ctx.lock(`${step.env}/${step.deployment}`, `run ${runbook.name} (job ${ctx.job.id})`)
            : undefined;
        if (lock && !lock.acquired) {
          row.detail = `waiting behind ${lock.heldBy}`;
          updates.push(render(`step ${i + 1} is waiting behind ${lock.heldBy}`));
          // Busy: the queue tries the job again later; the steps already done are skipped then.
          throw new StateError('busy', `waiting behind ${lock.heldBy}`, { retryable: true });
        }
        let result: Awaited<ReturnType<typeof runStep>>;
        try {
          result = await runStep(stepCtx, step, args.reason);
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
        await ctx.checkpoint.set(key, { state, detail } satisfies StepResult);
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
        return { outcome: 'executed', message: render(text), audit: { ...base } };
      }
      const ranOnFailure = failureRows.filter((r) => r.state === 'done').length;
      const text = `${runbook.name} failed at step ${failedAt + 1} (${plan.steps[failedAt]!.label}): ${rows[failedAt]!.detail ?? ''}${plan.onFailure.length ? ` onFailure: ${ranOnFailure} of ${plan.onFailure.length} steps done.` : ''}`;
      return { outcome: 'failed', message: render(text), audit: { ...base } };
    },
  };
}

async function dryRun(
  ctx: RunContext,
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
        detail = await previewStep(ctx, step, args.reason);
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
