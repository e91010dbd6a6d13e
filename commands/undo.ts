import { z } from 'zod';
import { specVersionOf } from '../src/core/deployment.js';
import { RefusalError, StateError, UserInputError } from '../src/core/errors.js';
import { defineArgs, type ParsedInput, Reason } from '../src/core/grammar.js';
import { type Message, message } from '../src/core/message.js';
import { slackText } from '../src/core/text.js';
import {
  type Change,
  irreversibleReason,
  type LaterAction,
  type LedgerEntry,
  type LiveDeployment,
  planUndo,
  RecordId,
  type Reversal,
  StepReversal,
  touchesOf,
  UndoPlan,
  type UndoStep,
} from '../src/core/undo.js';
import { reviewClusterAccess } from '../src/engine/cluster-access.js';
import {
  type Checkpoint,
  type CommandModule,
  commandsWith,
  dryRunContext,
  type Outcome,
  type RunContext,
} from '../src/engine/command-module.js';
import type { Ledger } from '../src/ports.js';

/** What `/ops undo` runs with: the commands that reverse a change (rollback, scale, env close…), bound to their features. */
export interface UndoServices {
  commands(): readonly CommandModule[];
}

const defineUndoCommand = commandsWith<UndoServices>();

/**
 * `env`, `of`, `target` and `irreversible` are never typed: resolve sets them from the record, before permission
 * is checked, so policy judges the recorded action's environment and permission.
 */
const parse = defineArgs({
  positionals: { record: RecordId },
  flags: {
    reason: Reason.optional(),
    force: z.literal(true).optional(),
    emergency: z.literal(true).optional(),
    env: z.string().min(1),
    of: z.string().min(1),
    target: z.string().min(1),
    /** Why the record cannot be undone; said once permission is checked, so strangers learn nothing of it. */
    irreversible: z.string().optional(),
  },
});
type Args = ReturnType<typeof parse>;

/** Undos of undos are followed this far back to the permission of the first action. */
const MAX_UNDO_CHAIN = 20;
const LATER_ACTIONS = 20;

function who(entry: Pick<LedgerEntry, 'requester'>): string {
  return entry.requester.name ? `@${entry.requester.name}` : `<@${entry.requester.id}>`;
}

function describeEntry(entry: LedgerEntry): string {
  const what = [entry.action, entry.target].filter(Boolean).join(' ');
  return `${what} in ${entry.environment} by ${who(entry)} at ${entry.time.slice(0, 19).replace('T', ' ')} UTC`;
}

function unknownRecord(id: string): UserInputError {
  return new UserInputError(
    `There is no record ${id}. Each change opsbot made shows its record id under the outcome; \`/ops history <deployment> --env <env>\` lists them.`,
    { code: 'not_found' },
  );
}

async function entryOf(ledger: Ledger | undefined, id: string): Promise<LedgerEntry> {
  const entry = await ledger?.get(id);
  if (!entry) throw unknownRecord(id);
  return entry;
}

/** The permission an undo needs: the recorded action's, or for an undo, that of the action it reversed. */
async function permissionOf(ledger: Ledger | undefined, entry: LedgerEntry): Promise<string> {
  let current = entry;
  for (let i = 0; i < MAX_UNDO_CHAIN && current.undoes; i++) {
    current = await entryOf(ledger, current.undoes);
  }
  return current.action;
}

/** A sub-command's checkpoints live under their own prefix, so two steps never share an intent. */
function scopedCheckpoint(parent: Checkpoint, prefix: string): Checkpoint {
  return {
    get: <T>(key: string) => parent.get<T>(`${prefix}.${key}`),
    set: (key, value) => parent.set(`${prefix}.${key}`, value),
  };
}

async function loadEntry(ctx: RunContext, args: Args): Promise<LedgerEntry> {
  const entry = await entryOf(ctx.ledger, args.record);
  // The job carries what the ack resolved: it must still be the record it was accepted for.
  if (entry.environment !== args.env || (entry.target ?? entry.action) !== args.target) {
    throw new StateError('conflict', `Record ${args.record} is not the one this request was accepted for.`);
  }
  return entry;
}

/** Reads every deployment the record touched, and what opsbot did to them after it. */
async function planFor(ctx: RunContext, entry: LedgerEntry): Promise<UndoPlan> {
  const live = new Map<string, LiveDeployment>();
  const later: LaterAction[] = [];
  for (const key of touchesOf(entry.reversal)) {
    const slash = key.indexOf('/');
    const target = ctx.target(key.slice(0, slash));
    const deployment = await ctx.cluster.getDeployment(target, key.slice(slash + 1));
    const replicaSets = await ctx.cluster.listReplicaSets(target, deployment);
    live.set(key, { deployment, replicaSets });
    for (const other of (await ctx.ledger?.recent(key, LATER_ACTIONS)) ?? []) {
      if (other.recordId !== entry.recordId && Date.parse(other.time) > Date.parse(entry.time))
        later.push(other);
    }
  }
  later.sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
  return planUndo(entry, live, later);
}

function refusal(entry: LedgerEntry, changes: readonly Change[]): RefusalError {
  return new RefusalError(
    `Not undone: ${changes.map((c) => c.what).join('; ')}. Nothing was changed. Undoing record ${entry.recordId} now would also discard that change; add --force to do it anyway.`,
  );
}

function commandFor(ctx: RunContext<UndoServices>, step: UndoStep): CommandModule {
  const command = ctx.services.commands().find((c) => c.name === step.command && c.run);
  if (!command?.run || command.unavailable)
    throw new StateError(
      'not_found',
      `${step.command} is not available here, so this change cannot be undone.`,
    );
  return command;
}

function inputOf(step: UndoStep, reason: string | undefined, command: CommandModule): ParsedInput {
  const flags: ParsedInput['flags'] = Object.assign(Object.create(null), step.flags);
  const parser = command.parse as { flags?: readonly string[] };
  if (reason && parser.flags?.includes('reason')) flags.reason = reason;
  return { words: step.words, flags };
}

const DoneStep = z.object({ lines: z.array(z.string()), reversal: StepReversal.optional() });

export const undo = defineUndoCommand({
  name: 'undo',
  summary:
    'Reverse a recorded change by its record id: a rollback, a scale, a pause or resume, a preview opened, a runbook',
  usage: '/ops undo <record-id> [--reason "<text>"] [--force] [--emergency]',
  parse,
  mutates: true,

  async resolve(input, { ledger }) {
    const id = RecordId.safeParse(input.words[0]);
    if (!id.success) return input;
    const entry = await entryOf(ledger, id.data);
    const irreversible = irreversibleReason(entry.reversal);
    // Whatever was typed for these, the record decides them.
    const flags: ParsedInput['flags'] = Object.assign(Object.create(null), input.flags, {
      env: entry.environment,
      of: await permissionOf(ledger, entry),
      target: entry.target ?? entry.action,
    });
    delete flags.irreversible;
    if (irreversible) {
      flags.irreversible = `Record ${entry.recordId} (${describeEntry(entry)}) cannot be undone: ${irreversible.why}. The nearest action: \`${irreversible.nearest}\`.`;
    }
    return { words: input.words, flags };
  },
  check(_config, args) {
    if (args.irreversible) throw new UserInputError(args.irreversible);
  },
  actionOf: (input) => (typeof input.flags.of === 'string' ? input.flags.of : undefined),
  scope: (args) => ({
    environment: args.env,
    target: args.target,
    reason: args.reason,
    emergency: args.emergency === true,
  }),

  async preview(ctx, args) {
    const entry = await loadEntry(ctx, args);
    const plan = await planFor(ctx, entry);
    if (plan.changes.length && !args.force) throw refusal(entry, plan.changes);
    const lines = [`Undo record \`${entry.recordId}\`: ${slackText(describeEntry(entry))}`];
    for (const change of plan.changes) lines.push(`:warning: --force: ${slackText(change.what)}`);
    for (const [i, step] of plan.steps.entries()) {
      const command = commandFor(ctx, step);
      const detail = command.preview
        ? (await command.preview(dryRunContext(ctx), command.parse(inputOf(step, args.reason, command))))
            .lines
        : [];
      lines.push(`${i + 1}. ${slackText(step.label)}`, ...detail.map((l) => `   ${l}`));
    }
    for (const note of plan.skipped) lines.push(`Left as it is: ${slackText(note)}`);
    const single = plan.steps.length === 1 ? plan.steps[0]?.lockKey : undefined;
    const specVersion = single ? await liveSpecVersion(ctx, single) : undefined;
    return { lines, specVersion };
  },

  async run(ctx, args): Promise<Outcome> {
    const entry = await loadEntry(ctx, args);
    const saved = UndoPlan.safeParse(ctx.checkpoint.get('plan'));
    let plan: UndoPlan;
    if (saved.success) plan = saved.data;
    else {
      plan = await planFor(ctx, entry);
      if (plan.changes.length && !args.force) throw refusal(entry, plan.changes);
      // Saved before the first step: a retry goes on with this plan, never one made against its own changes.
      await ctx.checkpoint.set('plan', plan);
    }
    const header = [
      `:leftwards_arrow_with_hook: Undo of record \`${entry.recordId}\` (${slackText(describeEntry(entry))})`,
      ...plan.changes.map((c) => `:warning: Forced past a later change: ${slackText(c.what)}`),
    ];
    const undoes = { recordId: entry.recordId, auditId: entry.auditId, path: entry.auditPath };
    const audit = {
      target: args.target,
      environment: args.env,
      reason: args.reason,
      args: { record: entry.recordId, ...(args.force ? { force: true } : {}) },
      undoes,
      ...(plan.changes.length ? { forced: plan.changes.map((c) => c.what) } : {}),
    };
    if (plan.steps.length === 0) {
      const text = `Nothing to undo for record ${entry.recordId}: ${plan.skipped.join('; ')}.`;
      return { outcome: 'noop', message: message(text, { lines: [...header, slackText(text)] }), audit };
    }

    const lines: string[] = [];
    const reversals: { label: string; reversal: StepReversal }[] = [];
    let last: Outcome | undefined;
    for (const [i, step] of plan.steps.entries()) {
      const key = `step.${i}`;
      const done = DoneStep.safeParse(ctx.checkpoint.get(key));
      if (done.success) {
        lines.push(...done.data.lines);
        if (done.data.reversal) reversals.push({ label: step.label, reversal: done.data.reversal });
        continue;
      }
      const command = commandFor(ctx, step);
      const stepCtx: RunContext<UndoServices> = {
        ...ctx,
        checkpoint: scopedCheckpoint(ctx.checkpoint, key),
        // An approver saw one target at one spec version; several steps act on what the previous left.
        ...(plan.steps.length === 1 ? {} : { expectUnchanged: () => {} }),
        progress: (msg: Message) =>
          ctx.progress(message(msg.text, { lines: [...header, ...lines, ...(msg.lines ?? [])] })),
      };
      // The undo holds its record's target; other targets of a runbook's undo are locked step by step.
      const lockKey =
        step.lockKey && step.lockKey !== `${args.env}/${args.target}` ? step.lockKey : undefined;
      const lock =
        lockKey && ctx.lock
          ? await ctx.lock(lockKey, `undo ${entry.recordId} (job ${ctx.job.id})`)
          : undefined;
      if (lock && !lock.acquired) {
        throw new StateError('busy', `waiting behind ${lock.heldBy}`, { retryable: true });
      }
      try {
        const parsed = command.parse(inputOf(step, args.reason, command));
        // Where opsbot acts as the requester, the cluster's RBAC is asked first, as for the command itself.
        await reviewClusterAccess(stepCtx, command, parsed);
        last = await command.run!(stepCtx, parsed);
      } finally {
        if (lock?.acquired) await lock.release().catch(() => undefined);
      }
      const stepLines = last.message.lines ?? [last.message.text];
      const single = last.reversal?.kind === 'steps' ? undefined : last.reversal;
      lines.push(...stepLines);
      if (single) reversals.push({ label: step.label, reversal: single });
      await ctx.checkpoint.set(key, { lines: stepLines, ...(single ? { reversal: single } : {}) });
    }
    const skipped = plan.skipped.map((s) => `:heavy_minus_sign: Left as it is: ${slackText(s)}`);
    const reversal: Reversal | undefined =
      reversals.length === 1
        ? reversals[0]!.reversal
        : reversals.length
          ? { kind: 'steps', steps: reversals }
          : undefined;
    const text = `Undid record ${entry.recordId} (${entry.action}${entry.target ? ` ${entry.target}` : ''} in ${entry.environment}).`;
    return {
      outcome: 'executed',
      message: message(text, { lines: [...header, ...lines, ...skipped] }),
      audit: {
        ...audit,
        ...(plan.steps.length === 1 && last ? pick(last.audit) : {}),
      },
      ...(reversal ? { reversal } : {}),
    };
  },

  async verify(ctx, args) {
    const saved = UndoPlan.safeParse(ctx.checkpoint.get('plan'));
    if (!saved.success) return undefined;
    for (const [i, step] of saved.data.steps.entries()) {
      if (DoneStep.safeParse(ctx.checkpoint.get(`step.${i}`)).success) return 'applied';
      const command = commandFor(ctx, step);
      const stepCtx = { ...ctx, checkpoint: scopedCheckpoint(ctx.checkpoint, `step.${i}`) };
      const effect = await command.verify?.(stepCtx, command.parse(inputOf(step, args.reason, command)));
      // The steps after the first one not done never started.
      return effect === 'applied' ? 'applied' : 'not-applied';
    }
    return 'not-applied';
  },
});

/** The before/after and rollout of a single-step undo, as the command itself recorded them. */
function pick(audit: Outcome['audit']): Outcome['audit'] {
  return {
    ...(audit.namespace ? { namespace: audit.namespace } : {}),
    ...(audit.before ? { before: audit.before } : {}),
    ...(audit.after ? { after: audit.after } : {}),
    ...(audit.rollout ? { rollout: audit.rollout } : {}),
  };
}

async function liveSpecVersion(ctx: RunContext, key: string): Promise<string> {
  const slash = key.indexOf('/');
  const deployment = await ctx.cluster.getDeployment(ctx.target(key.slice(0, slash)), key.slice(slash + 1));
  return specVersionOf(deployment);
}
