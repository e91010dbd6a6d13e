import type { ArgsParser, ParsedInput } from '../../core/grammar.js';
import { ArgValue } from '../../core/runbook.js';
import { reviewClusterAccess } from '../../engine/cluster-access.js';
import { type CommandModule, dryRunContext, RESUMED_NOTE } from '../../engine/command-module.js';
import { rolloutLine } from '../../engine/watch-rollout.js';
import { defineStepKind, type StepKind } from './step-kind.js';

/** Flags a step never sets itself: the run gives env and reason, and a run is never break-glass per step. */
const RUN_FLAGS = new Set(['env', 'reason', 'emergency']);

/**
 * A command as a runbook step kind: its fields are the command's own arguments (positionals and
 * flags, minus env, reason and emergency, which the run gives), parsed by the command's own
 * grammar; its permission, lock, dry run and run are the command's. Adding a verb with `step`
 * makes it usable in runbooks at once.
 */
export function commandStep(command: CommandModule): StepKind<unknown> {
  const parser = command.parse as ArgsParser<unknown>;
  const args = parser.args.filter((a) => !RUN_FLAGS.has(a.name));
  const takesReason = parser.flags.includes('reason');
  const input = (fields: Readonly<Record<string, string | number>>, env: string, reason?: string) => {
    const words: string[] = [];
    const flags: ParsedInput['flags'] = Object.create(null);
    flags.env = env;
    if (reason && takesReason) flags.reason = reason;
    for (const arg of args) {
      const value = Object.hasOwn(fields, arg.name) ? fields[arg.name] : undefined;
      if (value === undefined) continue;
      if (arg.positional) words[parser.positionals.indexOf(arg.name)] = String(value);
      else flags[arg.name] = arg.takesValue ? String(value) : true;
    }
    return { words: words.filter((w) => w !== undefined), flags };
  };
  return defineStepKind<ParsedInput>({
    kind: command.name.replace(/ /g, '-'),
    description: `${command.summary} (/ops ${command.name})`,
    fields: Object.fromEntries(
      args.map((a) => [a.name, a.required ? ArgValue : ArgValue.optional()] as const),
    ),
    plan(fields, env, { config }) {
      const parsed = command.parse(input(fields, env));
      const scope = command.scope?.(parsed, config);
      return {
        label: command.step?.label(parsed) ?? `${command.name} ${scope?.target ?? ''} in ${env}`,
        params: input(fields, env),
        mutates: command.mutates === true,
        ...(command.action ? { permission: { action: command.action, environment: env } } : {}),
        ...(command.mutates && scope?.target ? { lockKey: `${env}/${scope.target}` } : {}),
      };
    },
    check(config, step) {
      command.check?.(config, command.parse(step.params), undefined);
    },
    async preview(ctx, step, reason) {
      const args = command.parse(withReason(step.params, reason, takesReason));
      if (!command.preview) return [`Would ${step.label.charAt(0).toLowerCase()}${step.label.slice(1)}.`];
      return (await command.preview(dryRunContext(ctx), args)).lines;
    },
    async run(ctx, step, reason) {
      if (!command.run) throw new Error(`${command.name} cannot run as a step`);
      const args = command.parse(withReason(step.params, reason, takesReason));
      // Each step is asked of the cluster's RBAC as the requester, just before it runs.
      await reviewClusterAccess(ctx, command, args);
      const outcome = await command.run(ctx, args);
      const detail = outcome.resumed ? `${outcome.message.text} (${RESUMED_NOTE})` : outcome.message.text;
      const rollout = outcome.audit.rollout;
      const single = outcome.reversal?.kind === 'steps' ? undefined : outcome.reversal;
      const reversal = outcome.outcome === 'executed' && single ? { reversal: single } : {};
      return rollout && rollout.state !== 'complete'
        ? { detail, audit: outcome.audit, failedCheck: rolloutLine(rollout), ...reversal }
        : { detail, audit: outcome.audit, ...reversal };
    },
  });
}

function withReason(input: ParsedInput, reason: string | undefined, takesReason: boolean): ParsedInput {
  return reason && takesReason ? { words: input.words, flags: { ...input.flags, reason } } : input;
}
