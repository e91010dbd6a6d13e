import type { Logger } from 'pino';
import { z } from 'zod';
import type { OpsbotConfig } from '../config/schema.js';
import { type AuditRecord, auditPath } from '../core/audit.js';
import { type Checkpoints, CommandJob } from '../core/command-job.js';
import { specMoved } from '../core/deployment.js';
import { formatDuration } from '../core/duration.js';
import {
  ClusterDeniedError,
  ConfigError,
  OpsError,
  RefusalError,
  StateError,
  userMessageOf,
} from '../core/errors.js';
import { identityOf, needsEmail, type Requester } from '../core/identity.js';
import { type Message, message, withContext } from '../core/message.js';
import { rolesOf } from '../core/policy.js';
import { slackText } from '../core/text.js';
import { irreversibleReason, Reversal, touchesOf } from '../core/undo.js';
import { failpoint } from '../failpoints.js';
import type {
  Approvals,
  Chat,
  Clock,
  Cluster,
  ClusterTarget,
  Directory,
  Jobs,
  Ledger,
  Locks,
} from '../ports.js';
import { jobRecord, mention } from './audit-records.js';
import { reviewClusterAccess } from './cluster-access.js';
import {
  type Checkpoint,
  type CommandModule,
  type Outcome,
  RESUMED_NOTE,
  type RunContext,
  type Scope,
} from './command-module.js';
import { recordIdCandidates } from './record-id.js';

export interface RunDeps {
  config: OpsbotConfig;
  cluster: Cluster;
  chat: Chat;
  clock: Clock;
  jobs: Jobs;
  locks: Locks;
  approvals: Approvals;
  commands: readonly CommandModule[];
  log: Logger;
  /** Who the requester is, for environments that impersonate them: roles from user groups, and the email. */
  directory?: Pick<Directory, 'groupsOf' | 'emailOf'>;
  newApprovalId(): string;
  /** Where executed changes get their record id and what undoes them. */
  ledger?: Ledger | undefined;
  /** Told how long each run took and how it ended, for metrics. */
  observe?(command: string, outcome: string, seconds: number): void;
}

/** The queue-independent view of one attempt of a job. */
export interface JobAttempt {
  data: unknown;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  checkpoints: Checkpoints;
  saveCheckpoints(checkpoints: Checkpoints): Promise<void>;
}

/** Thrown when the job must not be retried; the queue adapter maps it to its own "unrecoverable" form. */
export class FinalFailure extends Error {
  override readonly cause: unknown;
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.cause = cause;
  }
}

/** Where an environment lives; as the requester when it impersonates and one is given, else as opsbot. */
export function resolveTarget(
  config: OpsbotConfig,
  environment: string,
  requester?: Requester,
): ClusterTarget {
  const env = config.environments[environment];
  if (!env) throw new ConfigError(`environment "${environment}" is not configured`);
  return {
    environment,
    context: env.context,
    namespace: env.namespace,
    ...(env.impersonate && requester ? { identity: identityOf(env.impersonate, requester) } : {}),
  };
}

/** What impersonation needs to know of the requester; undefined when no environment impersonates. */
async function requesterOf(deps: RunDeps, userId: string): Promise<Requester | undefined> {
  const templates = Object.values(deps.config.environments).flatMap((e) =>
    e.impersonate ? [e.impersonate] : [],
  );
  if (templates.length === 0) return undefined;
  const groups = (await deps.directory?.groupsOf(userId)) ?? new Set<string>();
  const email =
    deps.config.users[userId] ??
    (templates.some(needsEmail) ? await deps.directory?.emailOf?.(userId) : undefined);
  return { slackId: userId, email, roles: rolesOf(deps.config, { userId, groups }) };
}

export type JobResult = Outcome | { outcome: 'requested'; approvalId: string };

/** An outcome as the job keeps it once decided: a retry after a crash only records and reports it again. */
const DecidedOutcome = z.object({
  outcome: z.enum(['executed', 'noop', 'failed', 'unknown', 'denied', 'refused']),
  message: z.custom<Message>((v) => typeof v === 'object' && v !== null && 'text' in v),
  audit: z.record(z.string(), z.unknown()),
  resumed: z.boolean().optional(),
  reversal: Reversal.optional(),
  /** The error behind a failed outcome, so its job still ends as failed once reported. */
  error: z.string().optional(),
});

const OUTCOME_KEY = 'outcome';

/**
 * The worker path: lock the target, run the command (or, for a protected environment, plan it and
 * ask for approval), then, in this order, save the outcome, queue its audit record and update the
 * reply. Effect first, record second, chat last: a crash or a Slack failure after the effect never
 * turns an applied change into "failed". A retryable failure is rethrown for the queue to retry;
 * on the last attempt the live object is compared with what the command meant to do before anything
 * is called failed.
 */
export async function runCommand(deps: RunDeps, attempt: JobAttempt): Promise<JobResult> {
  const parsed = CommandJob.safeParse(attempt.data);
  if (!parsed.success) throw new FinalFailure(new Error(`invalid command job: ${parsed.error.message}`));
  const job = parsed.data;
  const command = deps.commands.find((c) => c.name === job.command);
  if (!command?.run) throw new FinalFailure(new Error(`no runnable command "${job.command}"`));
  const log = deps.log.child({ jobId: job.id, command: job.command, stage: job.stage });
  const last = attempt.attempt >= attempt.maxAttempts;

  const checkpoints: Checkpoints = { ...attempt.checkpoints };
  const checkpoint: Checkpoint = {
    get: <T>(key: string) => checkpoints[key] as T | undefined,
    async set(key, value) {
      checkpoints[key] = value;
      await attempt.saveCheckpoints(checkpoints);
    },
  };
  const sandboxNote = deps.cluster.sandbox ? ['sandbox cluster: nothing real was touched'] : [];
  const decorate = (msg: Message) => withContext(msg, ...sandboxNote, `job ${job.id}`);
  /** Posts the job's message, or replaces it once it exists. Throws on a Slack failure. */
  const show = async (msg: Message) => {
    const ts = checkpoint.get<string>('progressTs') ?? job.progressTs;
    if (ts) return deps.chat.update(job.channel.id, ts, decorate(msg));
    const posted = await deps.chat.post(job.channel.id, decorate(msg));
    await checkpoint.set('progressTs', posted.ts);
  };
  const progress = async (msg: Message) => {
    await show(msg).catch((err: unknown) => log.warn({ err }, 'could not update the progress message'));
  };

  let args: unknown;
  let scope: Scope | undefined;
  try {
    args = command.parse(job.input);
    scope = command.scope?.(args, deps.config);
  } catch (err) {
    throw new FinalFailure(err);
  }

  // Read once per attempt: roles and email decide the identity every call of this job is made as.
  const requester = await requesterOf(deps, job.requester.id);
  const ctx: RunContext = {
    job,
    config: deps.config,
    cluster: deps.cluster,
    clock: deps.clock,
    // A command's own services are bound by its feature (bindCommand).
    services: undefined,
    target: (environment) => resolveTarget(deps.config, environment, requester),
    progress,
    checkpoint,
    attempt: { number: attempt.attempt, last },
    failpoint: (point) => failpoint(`${command.name.replace(' ', '-')}.${point}`),
    expectUnchanged(live) {
      const approved = { specVersion: job.expectedSpecVersion, resourceVersion: job.expectedResourceVersion };
      const moved = specMoved(approved, live);
      if (moved === undefined) return;
      throw new StateError(
        'conflict',
        `${scope?.target ?? 'The target'} changed after the plan was approved (${moved}). Nothing was done; request it again.`,
      );
    },
    lock: (key, description) => deps.locks.acquire(key, job.id, description),
    ledger: deps.ledger,
    audit: async (record) => {
      await deps.jobs.enqueueAudit(
        jobRecord(job, { ...(deps.cluster.sandbox ? { sandbox: true } : {}), ...record }, deps.clock.now()),
      );
    },
  };

  /** Who the API server saw, for the record: the impersonated identity, when there is one. */
  const actingAs = (() => {
    try {
      return scope ? ctx.target(scope.environment).identity : undefined;
    } catch {
      return undefined;
    }
  })();
  const audit = (outcome: AuditRecord['outcome'], text: string, details: Partial<AuditRecord> = {}) =>
    deps.jobs.enqueueAudit(
      jobRecord(
        job,
        {
          ...(scope ? { environment: scope.environment } : {}),
          ...(scope?.target ? { target: scope.target } : {}),
          ...(scope?.reason ? { reason: scope.reason } : {}),
          ...(job.emergency ? { emergency: true } : {}),
          ...(deps.cluster.sandbox ? { sandbox: true } : {}),
          ...(actingAs ? { actingAs: { user: actingAs.user, groups: [...actingAs.groups] } } : {}),
          ...details,
          id: `${job.id}-${outcome}`,
          outcome,
          action: command.action ?? command.name,
          message: text,
        },
        deps.clock.now(),
      ),
    );

  /** Records and reports a decided outcome: audit first, then chat. Safe to repeat after a crash. */
  const deliver = async (decided: Outcome): Promise<Outcome> => {
    const text = decided.resumed ? `${decided.message.text} (${RESUMED_NOTE})` : decided.message.text;
    const recorded = await keepInLedger(deps, job, command, scope, decided);
    failpoint('command.before-audit');
    await audit(decided.outcome, text, {
      ...decided.audit,
      ...(recorded ? { recordId: recorded.recordId, reversal: recorded.reversal, time: recorded.time } : {}),
    });
    failpoint('command.after-audit');
    const context = [
      ...(decided.message.context ?? []),
      ...(decided.resumed ? [`This change ${RESUMED_NOTE}.`] : []),
      ...(recorded ? [recordLine(recorded.recordId, recorded.reversal)] : []),
    ];
    const shown = context.length ? { ...decided.message, context } : decided.message;
    failpoint('command.before-reply');
    await reply(shown);
    failpoint('command.after-reply');
    return decided;
  };

  /**
   * The final reply. A message that is gone (deleted, or never posted) is posted fresh; a transient
   * Slack failure is retried with the job, whose outcome is already saved; past the last attempt
   * the reply is given up with a warning. The record stands either way.
   */
  const reply = async (msg: Message): Promise<void> => {
    const giveUpOrRetry = (err: unknown, what: string) => {
      const retryable = err instanceof OpsError ? err.retryable : true;
      if (retryable && !last) throw new ReplyPending(err);
      log.warn({ err }, `${what}; the audit record has the outcome`);
    };
    try {
      await show(msg);
      return;
    } catch (err) {
      // A transient failure is retried with the job; only a message that is gone is posted fresh.
      const retryable = err instanceof OpsError ? err.retryable : true;
      if (retryable) return giveUpOrRetry(err, 'could not report the outcome in Slack');
      log.warn({ err }, 'could not update the outcome message; posting it fresh');
    }
    try {
      const posted = await deps.chat.post(job.channel.id, decorate(msg));
      await checkpoint.set('progressTs', posted.ts);
    } catch (err) {
      giveUpOrRetry(err, 'could not post the outcome in Slack');
    }
  };

  const saved = DecidedOutcome.safeParse(checkpoint.get(OUTCOME_KEY));
  if (saved.success) {
    log.info(
      { outcome: saved.data.outcome, attempt: attempt.attempt },
      'outcome already decided; recording it',
    );
    await deliver(saved.data as Outcome);
    if (saved.data.error !== undefined) throw new FinalFailure(new Error(saved.data.error));
    return saved.data as Outcome;
  }

  const started = deps.clock.now();
  let outcome: Outcome;
  let failure: unknown;
  try {
    // The cluster's RBAC is asked first, as the requester, before a plan or a change is made for them.
    await reviewClusterAccess(ctx, command, args);
    if (job.stage === 'approval') return await requestApproval(deps, ctx, command, args, scope, audit, show);

    const lock =
      scope?.target && command.mutates === true
        ? await deps.locks.acquire(`${scope.environment}/${scope.target}`, job.id, describeJob(job, scope))
        : undefined;
    if (lock && !lock.acquired) {
      if (!checkpoint.get('waitNoticeSent')) {
        await progress(
          message(`Waiting behind ${lock.heldBy}.`, { lines: [`:hourglass: Queued behind ${lock.heldBy}.`] }),
        );
        await checkpoint.set('waitNoticeSent', true);
      }
      throw new StateError('busy', `waiting behind ${lock.heldBy}`, { retryable: true });
    }
    log.info(
      { target: scope?.target, environment: scope?.environment, attempt: attempt.attempt },
      'command started',
    );
    try {
      outcome = await command.run(ctx, args);
    } finally {
      if (lock?.acquired) {
        // Logged before the release is sent, so it precedes the next holder's start on any clock reading.
        log.info({ target: scope?.target }, 'command releasing lock');
        await lock.release().catch((e: unknown) => log.warn({ err: e }, 'could not release lock'));
      }
    }
    if (lock?.acquired && lock.lost()) {
      // Said in the reply and the record: someone else may have acted on this target meanwhile.
      log.error({ target: scope?.target }, 'the target lock was lost while the action ran');
      outcome = {
        ...outcome,
        message: withContext(
          outcome.message,
          ':warning: opsbot lost its lock on this target while acting; another action may have run at the same time.',
        ),
      };
    }
  } catch (err) {
    if (err instanceof StateError && err.code === 'busy') throw err;
    if (err instanceof ClusterDeniedError) {
      log.info({ reason: err.message }, 'denied by cluster RBAC');
      outcome = deniedOutcome(err, scope, ctx);
    } else if (err instanceof RefusalError) {
      log.info({ reason: err.message }, 'refused to act');
      outcome = refusedOutcome(err);
      if (job.stage === 'approval') {
        // Nobody is asked to approve what opsbot will not do.
        await progress(outcome.message);
        await audit('refused', err.userMessage);
        return outcome;
      }
    } else {
      const retryable = err instanceof OpsError ? err.retryable : true;
      if (retryable && !last) {
        log.warn({ err, attempt: attempt.attempt }, 'command attempt failed; will retry');
        await progress(
          message(`Retrying: ${userMessageOf(err)}`, {
            lines: [
              `:arrows_counterclockwise: Attempt ${attempt.attempt} of ${attempt.maxAttempts} failed: ${userMessageOf(err)} Retrying.`,
            ],
          }),
        );
        throw err;
      }
      if (job.stage === 'approval') {
        log.error({ err }, 'could not ask for approval');
        await progress(failedMessage(command, userMessageOf(err)));
        await audit('failed', `Failed: ${userMessageOf(err)}`);
        throw new FinalFailure(err);
      }
      log.error({ err }, 'command failed');
      outcome = await judgeFailure(ctx, command, args, err, log);
      failure = err;
    }
  }

  // Decided: kept with the job before anything is recorded, so a retry repeats this outcome, never another.
  await checkpoint.set(OUTCOME_KEY, {
    ...outcome,
    ...(failure === undefined ? {} : { error: userMessageOf(failure) }),
  });
  deps.observe?.(command.name, outcome.outcome, (deps.clock.now() - started) / 1000);
  log.info({ outcome: outcome.outcome, resumed: outcome.resumed ?? false }, 'command finished');
  await deliver(outcome);
  if (failure !== undefined) throw new FinalFailure(failure);
  return outcome;
}

/** A reply that Slack did not take yet: the job is retried to deliver it, and only it. */
class ReplyPending extends OpsError {
  constructor(cause: unknown) {
    super('external_unavailable', 'the outcome is recorded; its reply is pending', {
      retryable: true,
      cause,
    });
  }
}

/** The cluster refused the requester: nothing was sent as them, and the reply says so in the cluster's words. */
function deniedOutcome(err: ClusterDeniedError, scope: Scope | undefined, ctx: RunContext): Outcome {
  const target = scope ? ctx.target(scope.environment) : undefined;
  return {
    outcome: 'denied',
    message: message(err.userMessage, {
      lines: [
        `:no_entry: ${err.userMessage}`,
        "Nothing was changed. opsbot's own policy allows this, but Kubernetes does not allow it for you.",
      ],
    }),
    audit: {
      ...(scope ? { environment: scope.environment } : {}),
      ...(scope?.target ? { target: scope.target } : {}),
      ...(target ? { namespace: target.namespace } : {}),
    },
  };
}

/** opsbot declined to act: said as it is, not as a failure, and recorded as "refused". */
function refusedOutcome(err: RefusalError): Outcome {
  return {
    outcome: 'refused',
    message: message(err.userMessage, { lines: [`:no_entry_sign: ${err.userMessage}`] }),
    audit: {},
  };
}

function failedMessage(command: CommandModule, why: string): Message {
  return message(`Failed: ${why}`, { lines: [`:x: ${command.name} failed: ${why}`] });
}

/**
 * A failure that will not be retried. The command is asked whether its saved intent is in effect
 * on the live object: if it is, the change happened and the record says "executed" (with the
 * error); if the live object cannot be read, "unknown"; only a change that is not in place is
 * "failed".
 */
async function judgeFailure(
  ctx: RunContext,
  command: CommandModule,
  args: unknown,
  err: unknown,
  log: Logger,
): Promise<Outcome> {
  const why = userMessageOf(err);
  let effect: Awaited<ReturnType<NonNullable<CommandModule['verify']>>>;
  try {
    effect = await command.verify?.(ctx, args);
  } catch (verifyErr) {
    log.error({ err: verifyErr }, 'could not tell whether the change took effect');
    const text = `${command.name}: the change was sent, but whether it took effect could not be confirmed (${why}). Check /ops status before acting again.`;
    return {
      outcome: 'unknown',
      message: message(text, { lines: [`:warning: ${text}`] }),
      audit: {},
    };
  }
  if (effect === 'applied') {
    const text = `${command.name} was applied, but following it failed: ${why}`;
    return {
      outcome: 'executed',
      message: message(text, { lines: [`:warning: ${text}`] }),
      audit: {},
    };
  }
  return { outcome: 'failed', message: failedMessage(command, why), audit: {} };
}

async function requestApproval(
  deps: RunDeps,
  ctx: RunContext,
  command: CommandModule,
  args: unknown,
  scope: Scope | undefined,
  audit: (outcome: AuditRecord['outcome'], text: string, details?: Partial<AuditRecord>) => Promise<unknown>,
  show: (msg: Message) => Promise<void>,
): Promise<JobResult> {
  if (!command.preview || !scope) throw new FinalFailure(new Error(`${command.name} cannot be approved`));
  const { job } = ctx;
  const preview = await command.preview(ctx, args);
  // The id is fixed before anything is posted, so a retried job finishes the same request.
  let id = ctx.checkpoint.get<string>('approvalId');
  if (!id) {
    id = deps.newApprovalId();
    await ctx.checkpoint.set('approvalId', id);
  }
  const ttl = deps.config.approvals.ttl;
  const expiresAt = deps.clock.now() + ttl;
  const what = `${command.name} ${scope.target ?? ''} in ${scope.environment}`.replace(/\s+/g, ' ');
  const lines = [
    `:lock: *${mention(job.requester)} asks to ${what}* — ${scope.environment} is protected and needs a second person.`,
    ...(scope.reason ? [`*Reason:* ${slackText(scope.reason)}`] : []),
    '*Plan* (server-side dry run):',
    ...preview.lines.map((l) => `• ${l}`),
    `Expires in ${formatDuration(ttl)} unless someone with approve rights for ${scope.environment} decides.`,
  ];
  // The request exists before its buttons do, so even an instant click finds it.
  await deps.approvals.create({
    id,
    status: 'pending',
    job: { ...job, stage: 'run', id: `${job.id}-run` },
    plan: preview.lines,
    specVersion: preview.specVersion,
    environment: scope.environment,
    target: scope.target,
    channel: job.channel.id,
    messageTs: '',
    expiresAt,
  });
  if ((await deps.approvals.get(id))?.status !== 'pending') return { outcome: 'requested', approvalId: id };
  // Without its buttons nobody can approve: this message must be posted, so a Slack failure retries the job.
  await show(
    message(`Approval needed: ${what}`, {
      lines,
      buttons: [
        { action: 'approval.approve', label: 'Approve', value: id, style: 'primary' },
        { action: 'approval.deny', label: 'Deny', value: id, style: 'danger' },
      ],
    }),
  );
  const messageTs = ctx.checkpoint.get<string>('progressTs');
  if (!messageTs) throw new Error('approval message was not posted');
  await deps.approvals.attachMessage(id, messageTs);
  await deps.jobs.scheduleApprovalExpiry(id, expiresAt);
  await audit('requested', `Approval requested: ${what}`, { plan: preview.lines });
  return { outcome: 'requested', approvalId: id };
}

function describeJob(job: CommandJob, scope: Scope): string {
  return `${job.command} ${scope.target ?? ''} in ${scope.environment} by ${mention(job.requester)} (job ${job.id})`.replace(
    /\s+/g,
    ' ',
  );
}

/**
 * Gives an executed change its short record id and keeps what undoes it in the ledger, before its
 * audit record is queued, so the id in the record and in the reply can always be looked up. The id
 * derives from the job id: a retry after a crash arrives at the same one.
 */
async function keepInLedger(
  deps: RunDeps,
  job: CommandJob,
  command: CommandModule,
  scope: Scope | undefined,
  decided: Outcome,
): Promise<{ recordId: string; reversal: Reversal; time: string } | undefined> {
  if (!deps.ledger || decided.outcome !== 'executed' || !decided.reversal || !scope) return undefined;
  const action = command.action ?? command.name;
  const auditId = `${job.id}-executed`;
  const undoes = decided.audit.undoes?.recordId;
  for (const recordId of recordIdCandidates(job.id)) {
    const existing = await deps.ledger.get(recordId);
    if (existing && existing.jobId !== job.id) continue;
    // A retry finds its own entry: the time (and so the record's path) stays the first attempt's.
    const time = existing?.time ?? new Date(deps.clock.now()).toISOString();
    const target = scope.target;
    const entry = existing ?? {
      recordId,
      jobId: job.id,
      auditId,
      auditPath: auditPath(deps.config.audit.dir, {
        id: auditId,
        time,
        action,
        environment: scope.environment,
        ...(target ? { target } : {}),
      }),
      action,
      environment: scope.environment,
      ...(target ? { target } : {}),
      time,
      requester: job.requester,
      reversal: decided.reversal,
      touches: touchesOf(decided.reversal),
      ...(undoes ? { undoes } : {}),
    };
    if (await deps.ledger.save(entry)) return { recordId, reversal: entry.reversal, time };
  }
  throw new Error('no free record id for this job');
}

function recordLine(recordId: string, reversal: Reversal): string {
  const irreversible = irreversibleReason(reversal);
  return irreversible
    ? `Record \`${recordId}\` · cannot be undone: ${irreversible.why}`
    : `Record \`${recordId}\` · undo with \`/ops undo ${recordId}\``;
}
