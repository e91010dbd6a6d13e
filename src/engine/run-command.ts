import type { Logger } from 'pino';
import type { Checkpoint, CommandModule, Outcome, RunContext } from '../../commands/command.js';
import type { OpsbotConfig } from '../config/schema.js';
import { MUTATING_ACTIONS } from '../core/actions.js';
import type { AuditRecord } from '../core/audit.js';
import { ConfigError, OpsError, StateError, userMessageOf } from '../core/errors.js';
import { type Message, message, withContext } from '../core/message.js';
import type { Chat, Clock, Cluster, ClusterTarget, Jobs, Locks } from '../ports.js';
import { type Checkpoints, CommandJob } from './command-job.js';

export interface RunDeps {
  config: OpsbotConfig;
  cluster: Cluster;
  chat: Chat;
  clock: Clock;
  jobs: Jobs;
  locks: Locks;
  commands: readonly CommandModule[];
  log: Logger;
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

/**
 * The worker path: lock the target, run the command, keep one progress message up to date, and
 * queue the audit record. Retryable failures are rethrown for the queue to retry; the last one is
 * reported to the channel and audited as failed.
 */
export async function runCommand(deps: RunDeps, attempt: JobAttempt): Promise<Outcome> {
  const parsed = CommandJob.safeParse(attempt.data);
  if (!parsed.success) throw new FinalFailure(new Error(`invalid command job: ${parsed.error.message}`));
  const job = parsed.data;
  const command = deps.commands.find((c) => c.name === job.command);
  if (!command?.run) throw new FinalFailure(new Error(`no runnable command "${job.command}"`));
  const log = deps.log.child({ jobId: job.id, command: job.command });

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
    const ts = checkpoint.get<string>('progressTs');
    if (ts) return deps.chat.update(job.channel.id, ts, decorated);
    const posted = await deps.chat.post(job.channel.id, decorated);
    await checkpoint.set('progressTs', posted.ts);
  };

  let args: unknown;
  let scope: ReturnType<NonNullable<CommandModule['scope']>> | undefined;
  try {
    args = command.parse(job.input);
    scope = command.scope?.(args);
  } catch (err) {
    throw new FinalFailure(err);
  }

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

  const ctx: RunContext = {
    job,
    config: deps.config,
    cluster: deps.cluster,
    clock: deps.clock,
    target: (environment) => resolveTarget(deps.config, environment),
    progress,
    checkpoint,
  };
  try {
    const outcome = await command.run(ctx, args);
    await progress(outcome.message);
    await deps.jobs.enqueueAudit(
      record(deps, job, command, outcome.outcome, outcome.message.text, outcome.audit),
    );
    log.info({ outcome: outcome.outcome }, 'command finished');
    return outcome;
  } catch (err) {
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
    await deps.jobs.enqueueAudit(
      record(deps, job, command, 'failed', text, {
        ...(scope ? { environment: scope.environment } : {}),
        ...(scope?.target ? { target: scope.target } : {}),
        ...(scope?.reason ? { reason: scope.reason } : {}),
      }),
    );
    throw new FinalFailure(err);
  } finally {
    if (lock?.acquired)
      await lock.release().catch((e: unknown) => log.warn({ err: e }, 'could not release lock'));
  }
}

function describeJob(job: CommandJob, scope: { environment: string; target?: string }): string {
  const who = job.requester.name ? `@${job.requester.name}` : job.requester.id;
  return `${job.command} ${scope.target ?? ''} in ${scope.environment} by ${who} (job ${job.id})`.replace(
    /\s+/g,
    ' ',
  );
}

function record(
  deps: RunDeps,
  job: CommandJob,
  command: CommandModule,
  outcome: AuditRecord['outcome'],
  text: string,
  details: Partial<AuditRecord>,
): AuditRecord {
  return {
    args: {},
    ...details,
    id: `${job.id}-${outcome}`,
    time: new Date(deps.clock.now()).toISOString(),
    outcome,
    action: command.action ?? command.name,
    requester: job.requester,
    ...(job.approver ? { approver: job.approver } : {}),
    message: text,
    channel: { id: job.channel.id, ...(job.channel.name ? { name: job.channel.name } : {}) },
    jobId: job.id,
    ...(deps.cluster.sandbox ? { sandbox: true } : {}),
  };
}
