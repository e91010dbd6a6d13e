import type { OpsbotConfig } from '../config/schema.js';
import type { AuditRecord } from '../core/audit.js';
import type { CommandJob } from '../core/command-job.js';
import type { DeploymentView } from '../core/deployment.js';
import type { ParsedInput } from '../core/grammar.js';
import type { Message } from '../core/message.js';
import { type Action, grantsOf, type Principal } from '../core/policy.js';
import type { Reversal } from '../core/undo.js';
import type {
  Clock,
  Cluster,
  ClusterTarget,
  IncidentContext,
  Ledger,
  LockResult,
  ResourceAccess,
} from '../ports.js';

/** Answers that need nothing but config and the asker: help, whoami. They run inside the ack. */
export interface InlineContext {
  config: OpsbotConfig;
  principal: Principal;
  commands: readonly CommandModule[];
}

/** State that survives a retry of the same job, so a re-run never repeats an effect. */
export interface Checkpoint {
  get<T>(key: string): T | undefined;
  set(key: string, value: unknown): Promise<void>;
}

/**
 * What a queued command runs with. `services` are the ones its feature provides (previews:
 * namespaces and templates; incidents: the incident service); undefined for plain commands.
 */
export interface RunContext<S = unknown> {
  job: CommandJob;
  services: S;
  config: OpsbotConfig;
  cluster: Cluster;
  clock: Clock;
  target(environment: string): ClusterTarget;
  /**
   * Replaces the one progress message of this job. Best effort: a Slack failure is logged and
   * never fails the action, so an applied change is never reported as failed because of chat.
   */
  progress(message: Message): Promise<void>;
  checkpoint: Checkpoint;
  /** Which attempt of the job this is; a retryable failure on the last one is final. */
  attempt: { number: number; last: boolean };
  /** A named crash point (`<command>.<point>`, e.g. rollback.after-patch) for the crash tests. */
  failpoint(point: string): void;
  /**
   * For approved requests: refuses (without retry) when the target's spec moved since the plan the
   * approver saw (specVersionOf); status changes do not count. A no-op for requests that needed no approval.
   */
  expectUnchanged(live: Pick<DeploymentView, 'uid' | 'generation' | 'resourceVersion'>): void;
  /** Queues an extra audit record for a part of this job (a runbook step); the job's own record is written anyway. */
  audit?(
    record: Pick<AuditRecord, 'id' | 'outcome' | 'action' | 'message'> & Partial<AuditRecord>,
  ): Promise<void>;
  /** Takes the target lock single commands take (`<env>/<deployment>`), held by this job; re-entrant on retry. */
  lock?(key: string, description: string): Promise<LockResult>;
  /** Executed changes by record id: what `/ops history` lists and `/ops undo` reverses. */
  ledger?: Ledger | undefined;
}

/**
 * The context for a server-side dry run (the plan an approver sees): its checkpoints vanish with it
 * and it checks nothing against the live target, so a preview never leaves state behind.
 */
export function dryRunContext<S>(ctx: RunContext<S>): RunContext<S> {
  const values = new Map<string, unknown>();
  return {
    ...ctx,
    checkpoint: {
      get: <T>(key: string) => values.get(key) as T | undefined,
      async set(key, value) {
        values.set(key, value);
      },
    },
    expectUnchanged: () => {},
  };
}

/** What an approver is shown: before → after, from a server-side dry run. */
export interface Preview {
  lines: string[];
  /** The target's spec version (specVersionOf) the plan was made from; the approved action is refused if it moved. */
  specVersion: string | undefined;
}

export interface Scope {
  environment: string;
  target?: string;
  reason?: string | undefined;
  /** Break-glass: skip approval, for roles allowed to. */
  emergency?: boolean;
}

export type AuditDetails = Partial<
  Pick<
    AuditRecord,
    | 'target'
    | 'namespace'
    | 'environment'
    | 'before'
    | 'after'
    | 'args'
    | 'reason'
    | 'rollout'
    | 'undoes'
    | 'forced'
  >
>;

export interface Outcome {
  /**
   * "failed": the command handled its own failure (a runbook that ran its onFailure steps).
   * "unknown": the change was sent, and whether it took effect could not be confirmed.
   * "refused": opsbot declined to act (see RefusalError); nothing was changed.
   */
  outcome: 'executed' | 'noop' | 'failed' | 'unknown' | 'denied' | 'refused';
  message: Message;
  audit: AuditDetails;
  /** The effect was already in place when this attempt began: an earlier attempt applied it before a crash. */
  resumed?: boolean;
  /**
   * For an executed change: what it replaced and what it left, so that `/ops undo` can reverse it
   * (or say why it cannot). The engine gives the change a record id when it is set.
   */
  reversal?: Reversal;
}

/** Shown when a retry finds the change already in place: the first attempt applied it, then opsbot stopped. */
export const RESUMED_NOTE = 'was already applied before a restart of opsbot';

/**
 * What a retry or a final failure learns by comparing the live object with the intent the command
 * saved before its first write: applied, or not (and then nothing changed).
 */
export type EffectCheck = 'applied' | 'not-applied';

/**
 * One /ops verb: everything about it in one place. Registered by hand, one line each, in its
 * feature's command list (commands/index.ts for the cluster verbs). A verb with `step` is also a
 * runbook step kind, with the same grammar, permission, plan and run.
 */
export interface CommandModule<A = unknown, S = unknown> {
  /** The words that select it: "rollback", "env open". */
  name: string;
  summary: string;
  usage: string;
  /** The permission policy checks; absent for commands everyone may run. */
  action?: Action;
  /** Permissions it checks besides `action` that roles may be granted ("env.close-any"). */
  permissions?: readonly Action[];
  /**
   * It changes something: it takes a lock on its target, and in a protected environment it needs
   * a reason and a second person's approval.
   */
  mutates?: boolean;
  /** Usable as a runbook step; `label` names the step in the run's message. */
  step?: { label(args: A): string };
  parse(input: ParsedInput): A;
  /**
   * The environment a request acts in, read before its arguments are validated, so permission is
   * checked first. Without it, the --env flag is used. Throws for a request that names none it may use.
   */
  environmentOf?(
    input: ParsedInput,
    config: OpsbotConfig,
    context: { incident?: IncidentContext | undefined },
  ): string | undefined;
  /**
   * Fills in, before permission is checked, what the request refers to (an undo: the recorded
   * action's environment and permission, from the ledger). Throws UserInputError for what cannot be acted on.
   */
  resolve?(input: ParsedInput, context: { ledger: Ledger | undefined }): Promise<ParsedInput>;
  /** The permission this request needs when it depends on the request (an undo: the original action's). */
  actionOf?(input: ParsedInput): Action | undefined;
  /** Where the request acts, for policy, approval and locking. The config names where previews live. */
  scope?(args: A, config: OpsbotConfig): Scope;
  /** Checks that need the config (bounds, limits), run in the ack path so bad input is never queued. */
  check?(config: OpsbotConfig, args: A, services: S): void;
  /** Permissions needed beyond `action` (a runbook's steps); all are checked before anything is queued. */
  requires?(config: OpsbotConfig, args: A, services: S): { action: Action; environment: string }[];
  /** A second person must approve even where `action` alone would not need it (a runbook's approval step). */
  needsApproval?(config: OpsbotConfig, args: A, services: S): boolean;
  /** The plan shown to an approver (a server-side dry run); mutating commands in protected environments need it. */
  preview?(ctx: RunContext<S>, args: A): Promise<Preview>;
  /** Answered inside the ack, with no cluster or GitHub call. */
  reply?(ctx: InlineContext, args: A): Message;
  /**
   * Input that asks what there is rather than naming it (`/ops run` alone): answered in the ack
   * with what this user may choose from; undefined for input to parse and run as usual.
   */
  listing?(ctx: InlineContext, input: ParsedInput, services: S): Message | undefined;
  /**
   * The Kubernetes requests it makes that change something, for the SubjectAccessReview asked first
   * where opsbot impersonates the requester: exactly the verb, resource and subresource it sends.
   */
  clusterAccess?(args: A): (ResourceAccess & { environment: string })[];
  /** Runs in a queued job. */
  run?(ctx: RunContext<S>, args: A): Promise<Outcome>;
  /**
   * For mutating commands: whether the intent saved by `run` is in effect on the live object.
   * Asked after a final failure, so the record says "executed" when the change did happen.
   * Undefined when `run` saved no intent (it failed before its first write).
   */
  verify?(ctx: RunContext<S>, args: A): Promise<EffectCheck | undefined>;
  /** Set on a command whose feature is not configured here: why, said in the ack before anything is queued. */
  unavailable?: string;
}

/** Keeps each module's argument and services types while the registry holds them together. */
export function defineCommand<A, S = unknown>(
  module: { parse(input: ParsedInput): A } & CommandModule<NoInfer<A>, S>,
): CommandModule<A, S> {
  return module;
}

/** defineCommand for the commands of a feature, whose contexts carry that feature's services. */
export function commandsWith<S>() {
  return <A>(module: { parse(input: ParsedInput): A } & CommandModule<NoInfer<A>, S>): CommandModule<A, S> =>
    module;
}

/**
 * A command as the engine runs it: with its feature's services bound into every context it gets,
 * or, when its feature is not configured, marked unavailable with the reason.
 */
export function bindCommand<A, S>(
  command: CommandModule<A, S>,
  binding: { services: S } | { unavailable: string },
): CommandModule<A> {
  // The engine passes no services (undefined); the bound methods pass the feature's own instead.
  const { run, preview, verify, check, requires, needsApproval, listing, ...rest } = command;
  if ('unavailable' in binding) return { ...rest, unavailable: binding.unavailable };
  const { services } = binding;
  const withServices = (ctx: RunContext): RunContext<S> => ({ ...ctx, services });
  return {
    ...rest,
    ...(check ? { check: (config, args) => check(config, args, services) } : {}),
    ...(listing ? { listing: (ctx, input) => listing(ctx, input, services) } : {}),
    ...(requires ? { requires: (config, args) => requires(config, args, services) } : {}),
    ...(needsApproval ? { needsApproval: (config, args) => needsApproval(config, args, services) } : {}),
    ...(run ? { run: (ctx, args) => run(withServices(ctx), args) } : {}),
    ...(preview ? { preview: (ctx, args) => preview(withServices(ctx), args) } : {}),
    ...(verify ? { verify: (ctx, args) => verify(withServices(ctx), args) } : {}),
  };
}

/** The command whose name matches the leading words; the longest name wins ("env open" over "env"). */
export function findCommand(
  words: readonly string[],
  registry: readonly CommandModule[],
): { command: CommandModule; rest: string[] } | undefined {
  const sorted = [...registry].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  for (const command of sorted) {
    const parts = command.name.split(' ');
    if (parts.every((p, i) => words[i]?.toLowerCase() === p)) {
      return { command, rest: words.slice(parts.length) };
    }
  }
  return undefined;
}

/** The usage lines of the commands this user may run; everything when `all` is set. */
export function usageLines(ctx: InlineContext, all = false): string[] {
  const grants = grantsOf(ctx.config, ctx.principal);
  return ctx.commands
    .filter((c) => all || c.action === undefined || grants.has(c.action))
    .map((c) => `\`${c.usage}\` — ${c.summary}`);
}
