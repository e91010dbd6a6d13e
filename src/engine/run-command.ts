import type { Logger } from 'pino';
import type { OpsbotConfig } from '../config/schema.js';
import { MUTATING_ACTIONS } from '../core/actions.js';
import type { AuditRecord } from '../core/audit.js';
import { formatDuration } from '../core/duration.js';
import { ConfigError, OpsError, StateError, userMessageOf } from '../core/errors.js';
import { type Message, message, withContext } from '../core/message.js';
import { slackText } from '../core/text.js';
import type {
  Approvals,
  Chat,
  Clock,
  Cluster,
  ClusterTarget,
  IncidentCommands,
  Jobs,
  Locks,
} from '../ports.js';
import type { PreviewServices } from '../preview/services.js';
import { jobRecord, mention } from './audit-records.js';
import { type Checkpoints, CommandJob } from './command-job.js';
import type { Checkpoint, CommandModule, Outcome, RunContext, Scope } from './command-module.js';

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
  newApprovalId(): string;
  /** Told how long each run took and how it ended, for metrics. */
  observe?(command: string, outcome: string, seconds: number): void;
  /** For the env commands: namespaces, templates, pull requests. */
  previews?: PreviewServices | undefined;
  /** For /ops incident declare|resolve. */
  incidents?: IncidentCommands | undefined;
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

export function resolveTarget(config: OpsbotConfig, environment: string): ClusterTarget {
  const env = config.environments[environment];
  if (!env) throw new ConfigError(`environment "${environment}" is not configured`);
  return { environment, context: env.context, namespace: env.namespace };
}

export type JobResult = Outcome | { outcome: 'requested'; approvalId: string };

/**
 * The worker path: lock the target, run the command (or, for a protected environment, plan it and
 * ask for approval), keep one progress message up to date, and queue the audit record. Retryable
 * failures are rethrown for the queue to retry; the last one is reported and audited as failed.
 */
export async function runCommand(deps: RunDeps, attempt: JobAttempt): Promise<JobResult> {
  const parsed = CommandJob.safeParse(attempt.data);
  if (!parsed.success) throw new FinalFailure(new Error(`invalid command job: ${parsed.error.message}`));
  const job = parsed.data;
  const command = deps.commands.find((c) => c.name === job.command);
  if (!command?.run) throw new FinalFailure(new Error(`no runnable command "${job.command}"`));
  const log = deps.log.child({ jobId: job.id, command: job.command, stage: job.stage });

  const checkpoints: Checkpoints = { ...attempt.checkpoints };
  const checkpoint: Checkpoint = {
    get: <T>(key: string) => checkpoints[key] as T | undefined,
    async set(key, value) {
      checkpoints[key] = value;
      await attempt.saveCheckpoints(checkpoints);
    },
  };
  const sandboxNote = deps.cluster.sandbox ? ['sandbox cluster: nothing real was touched'] : [];
  const progress = async (msg: Message) => {
    const decorated = withContext(msg, ...sandboxNote, `job ${job.id}`);
    const ts = checkpoint.get<string>('progressTs') ?? job.progressTs;
    if (ts) return deps.chat.update(job.channel.id, ts, decorated);
    const posted = await deps.chat.post(job.channel.id, decorated);
    await checkpoint.set('progressTs', posted.ts);
  };

  let args: unknown;
  let scope: Scope | undefined;
  try {
    args = command.parse(job.input);
    scope = command.scope?.(args, deps.config);
  } catch (err) {
    throw new FinalFailure(err);
  }

  const ctx: RunContext = {
    job,
    config: deps.config,
    cluster: deps.cluster,
    clock: deps.clock,
    ...(deps.previews ? { previews: deps.previews } : {}),
    ...(deps.incidents ? { incidents: deps.incidents } : {}),
    target: (environment) => resolveTarget(deps.config, environment),
    progress,
    checkpoint,
    expectUnchanged(resourceVersion) {
      if (job.expectedResourceVersion === undefined || job.expectedResourceVersion === resourceVersion)
        return;
      throw new StateError(
        'conflict',
        `${scope?.target ?? 'The target'} changed after the plan was approved (resourceVersion ${job.expectedResourceVersion} → ${resourceVersion}). Nothing was done; request it again.`,
      );
    },
    lock: (key, description) => deps.locks.acquire(key, job.id, description),
    audit: async (record) => {
      await deps.jobs.enqueueAudit(
        jobRecord(job, { ...(deps.cluster.sandbox ? { sandbox: true } : {}), ...record }, deps.clock.now()),
      );
    },
  };

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
          ...details,
          id: `${job.id}-${outcome}`,
          outcome,
          action: command.action ?? command.name,
          message: text,
        },
        deps.clock.now(),
      ),
    );

  try {
    if (job.stage === 'approval') return await requestApproval(deps, ctx, command, args, scope, audit);

    const lock =
      scope?.target && command.action && MUTATING_ACTIONS.has(command.action)
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
    const started = deps.clock.now();
    try {
      const outcome = await command.run(ctx, args);
      await progress(outcome.message);
      await audit(outcome.outcome, outcome.message.text, outcome.audit);
      deps.observe?.(command.name, outcome.outcome, (deps.clock.now() - started) / 1000);
      log.info({ outcome: outcome.outcome }, 'command finished');
      return outcome;
    } finally {
      if (lock?.acquired)
        await lock.release().catch((e: unknown) => log.warn({ err: e }, 'could not release lock'));
    }
  } catch (err) {
    if (err instanceof StateError && err.code === 'busy') throw err;
    const retryable = err instanceof OpsError ? err.retryable : true;
    const last = attempt.attempt >= attempt.maxAttempts;
    if (retryable && !last) {
      log.warn({ err, attempt: attempt.attempt }, 'command attempt failed; will retry');
      await progress(
        message(`Retrying: ${userMessageOf(err)}`, {
          lines: [
            `:arrows_counterclockwise: Attempt ${attempt.attempt} of ${attempt.maxAttempts} failed: ${userMessageOf(err)} Retrying.`,
          ],
        }),
      ).catch((e: unknown) => log.warn({ err: e }, 'could not update progress message'));
      throw err;
    }
    log.error({ err }, 'command failed');
    const text = `Failed: ${userMessageOf(err)}`;
    await progress(message(text, { lines: [`:x: ${command.name} failed: ${userMessageOf(err)}`] })).catch(
      (e: unknown) => log.warn({ err: e }, 'could not report failure to chat'),
    );
    await audit('failed', text);
    deps.observe?.(command.name, 'failed', 0);
    throw new FinalFailure(err);
  }
}

async function requestApproval(
  deps: RunDeps,
  ctx: RunContext,
  command: CommandModule,
  args: unknown,
  scope: Scope | undefined,
  audit: (outcome: AuditRecord['outcome'], text: string, details?: Partial<AuditRecord>) => Promise<unknown>,
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
    resourceVersion: preview.resourceVersion,
    environment: scope.environment,
    target: scope.target,
    channel: job.channel.id,
    messageTs: '',
    expiresAt,
  });
  if ((await deps.approvals.get(id))?.status !== 'pending') return { outcome: 'requested', approvalId: id };
  await ctx.progress(
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
