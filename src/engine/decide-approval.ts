import type { Logger } from 'pino';
import type { OpsbotConfig } from '../config/schema.js';
import type { AuditRecord } from '../core/audit.js';
import type { CommandJobInput, Person } from '../core/command-job.js';
import { type Message, message } from '../core/message.js';
import { authorizeApproval } from '../core/policy.js';
import { failpoint } from '../failpoints.js';
import type { ApprovalRequest, Approvals, Chat, Clock, Directory, Jobs } from '../ports.js';
import { jobRecord, mention } from './audit-records.js';
import type { ButtonRoute } from './buttons.js';
import { idempotencyKey } from './keys.js';

export interface ApprovalDeps {
  config: OpsbotConfig;
  approvals: Approvals;
  jobs: Jobs;
  chat: Chat;
  directory: Directory;
  clock: Clock;
  log?: Pick<Logger, 'warn'>;
}

export interface ApprovalClick {
  /** The button's value: an opaque approval id, and nothing else is read from the client. */
  approvalId: string;
  decision: 'approve' | 'deny';
  user: Person;
  channelId: string;
  /** Identifies this delivery, so a redelivered click is audited once. */
  deliveryId: string;
}

function what(request: ApprovalRequest): string {
  return `${request.job.command} ${request.target ?? ''} in ${request.environment}`.replace(/\s+/g, ' ');
}

function redelivered(request: ApprovalRequest, click: ApprovalClick): boolean {
  return request.status !== 'pending' && request.decidedVia === click.deliveryId;
}

/** What the deciding click was answered, for a redelivery of that same click. */
function decidedAnswer(request: ApprovalRequest): Message {
  return message(`${request.status === 'approved' ? 'Approved' : 'Denied'}: ${what(request)}.`);
}

function statusText(request: ApprovalRequest): string {
  const by = request.decidedBy ? ` by ${mention(request.decidedBy)}` : '';
  return `already ${request.status}${by}`;
}

/**
 * A click on Approve or Deny. Everything but the opaque id comes from server-side state; every
 * refusal (unknown id, expired, decided, self-approval, missing rights) changes nothing and is audited.
 */
export async function decideApproval(deps: ApprovalDeps, click: ApprovalClick): Promise<Message> {
  const request = await deps.approvals.get(click.approvalId);
  const refuse = async (reason: string, about?: ApprovalRequest) => {
    await deps.jobs.enqueueAudit(refusal(deps, click, reason, about));
    return message(`Refused: ${reason}.`, { lines: [`:no_entry: Refused: ${reason}. Nothing was changed.`] });
  };
  if (!request) return refuse('this approval request is unknown');
  // Slack may deliver one click twice (a Socket Mode envelope retried on another connection): the
  // delivery that decided gets the same answer again, and nothing else happens.
  if (redelivered(request, click)) return decidedAnswer(request);
  if (request.status !== 'pending') return refuse(`this request is ${statusText(request)}`, request);
  if (deps.clock.now() >= request.expiresAt) return refuse('this request has expired', request);

  const groups = await deps.directory.groupsOf(click.user.id);
  const decision = authorizeApproval(
    deps.config,
    { userId: click.user.id, groups, groupsUnavailable: deps.directory.groupsUnavailable?.() },
    request.environment,
    request.job.requester.id,
  );
  if (!decision.allowed) return refuse(decision.reason, request);

  const status = click.decision === 'approve' ? 'approved' : 'denied';
  const job = request.job;
  const approvedJob = {
    ...job,
    approver: click.user,
    ...(request.specVersion ? { expectedSpecVersion: request.specVersion } : {}),
    ...(request.resourceVersion ? { expectedResourceVersion: request.resourceVersion } : {}),
  };
  // The decision and the job it starts are one atomic write (the job waits in the approvals outbox),
  // so a crash or a queue failure between them can neither lose the approval nor run a denied job.
  const result = await deps.approvals.decide(request.id, status, click.user, {
    ...(status === 'approved' ? { startJob: approvedJob } : {}),
    deliveryId: click.deliveryId,
  });
  if (result && !result.won && redelivered(result.previous, click)) return decidedAnswer(result.previous);
  if (!result?.won)
    return refuse(`this request is ${result ? statusText(result.previous) : 'unknown'}`, request);

  if (status === 'approved') {
    failpoint('approval.before-enqueue');
    await enqueueApproved(deps, request.id, approvedJob).catch((err: unknown) =>
      deps.log?.warn({ err, approvalId: request.id }, 'approved job not queued yet; the outbox will retry'),
    );
  }
  const verb = status === 'approved' ? 'Approved' : 'Denied';
  // A click in the instant before the message was attached has no message to update yet.
  if (request.messageTs)
    await deps.chat.update(
      request.channel,
      request.messageTs,
      message(`${verb}: ${what(request)}`, {
        lines: [
          `${status === 'approved' ? ':white_check_mark:' : ':no_entry_sign:'} *${verb}* by ${mention(click.user)}: ${what(request)} requested by ${mention(job.requester)}.`,
          ...request.plan.map((l) => `• ${l}`),
          ...(status === 'approved' ? [':hourglass: Running…'] : []),
        ],
      }),
    );
  await deps.jobs.enqueueAudit(
    jobRecord(
      { ...job, approver: click.user },
      {
        id: `${job.id}-${status}`,
        outcome: status,
        action: actionOf(job.command),
        environment: request.environment,
        ...(request.target ? { target: request.target } : {}),
        plan: request.plan,
        message: `${verb} by ${mention(click.user)}: ${what(request)}`,
      },
      deps.clock.now(),
    ),
  );
  return message(`${verb}: ${what(request)}.`);
}

/** The Approve and Deny buttons of an approval request, as every transport routes them. */
export function approvalButtons(decide: (click: ApprovalClick) => Promise<Message>): ButtonRoute {
  return {
    action: /^approval\.(approve|deny)$/,
    handle: (click) =>
      decide({
        approvalId: click.value,
        decision: click.actionId === 'approval.approve' ? 'approve' : 'deny',
        user: click.user,
        channelId: click.channelId,
        deliveryId: click.deliveryId,
      }),
  };
}

/** Queues an approved job (idempotent by job id), then takes it out of the outbox. */
async function enqueueApproved(
  deps: Pick<ApprovalDeps, 'jobs' | 'approvals'>,
  approvalId: string,
  job: CommandJobInput,
): Promise<void> {
  await deps.jobs.enqueueCommand(job);
  await deps.approvals.settle(approvalId);
}

/** The timer queue that runs drainApprovalOutbox on one worker of the fleet every few seconds. */
export const APPROVAL_OUTBOX_QUEUE = 'approval-outbox';

/**
 * Queues every approved job still in the outbox: after a crash between an approval and its
 * enqueue, or a queue that refused the add. Run at start-up and on a timer; job ids make a
 * second enqueue of the same job a no-op.
 */
export async function drainApprovalOutbox(deps: Pick<ApprovalDeps, 'jobs' | 'approvals'>): Promise<number> {
  const pending = await deps.approvals.outbox();
  for (const { approvalId, job } of pending) await enqueueApproved(deps, approvalId, job);
  return pending.length;
}

/** Called by the delayed expiry job; does nothing if the request was decided in time. */
export async function expireApproval(
  deps: Omit<ApprovalDeps, 'directory'>,
  approvalId: string,
): Promise<void> {
  const result = await deps.approvals.decide(approvalId, 'expired');
  if (!result?.won) return;
  const request = result.previous;
  if (request.messageTs)
    await deps.chat.update(
      request.channel,
      request.messageTs,
      message(`Expired: ${what(request)}`, {
        lines: [
          `:hourglass: *Expired* without a decision: ${what(request)} requested by ${mention(request.job.requester)}. Request it again if it is still needed.`,
        ],
      }),
    );
  await deps.jobs.enqueueAudit(
    jobRecord(
      request.job,
      {
        id: `${request.job.id}-expired`,
        outcome: 'expired',
        action: actionOf(request.job.command),
        environment: request.environment,
        ...(request.target ? { target: request.target } : {}),
        plan: request.plan,
        message: `Approval expired: ${what(request)}`,
      },
      deps.clock.now(),
    ),
  );
}

function actionOf(command: string): string {
  return command.replace(' ', '.');
}

function refusal(
  deps: ApprovalDeps,
  click: ApprovalClick,
  reason: string,
  about?: ApprovalRequest,
): AuditRecord {
  return {
    id: idempotencyKey('refused', click.deliveryId, click.approvalId),
    time: new Date(deps.clock.now()).toISOString(),
    outcome: 'refused',
    action: about ? actionOf(about.job.command) : 'approval',
    requester: click.user,
    ...(about ? { environment: about.environment } : {}),
    ...(about?.target ? { target: about.target } : {}),
    args: { decision: click.decision, approvalId: click.approvalId },
    message: `Refused ${click.decision} click: ${reason}`,
    channel: { id: click.channelId },
  };
}

/**
 * A click on an approval button that failed Slack's signature check. Nothing in it is trusted; if
 * it names a real approval request, one "refused" record per request says someone tried.
 */
export async function auditForgedClick(
  deps: Pick<ApprovalDeps, 'approvals' | 'jobs' | 'clock'>,
  rawBody: Buffer,
): Promise<void> {
  const payload = new URLSearchParams(rawBody.toString('utf8')).get('payload');
  if (!payload) return;
  let claimed: { user?: { id?: unknown }; actions?: { action_id?: unknown; value?: unknown }[] };
  try {
    claimed = JSON.parse(payload);
  } catch {
    return;
  }
  const action = claimed.actions?.[0];
  if (
    typeof action?.action_id !== 'string' ||
    !action.action_id.startsWith('approval.') ||
    typeof action.value !== 'string'
  )
    return;
  const request = await deps.approvals.get(action.value);
  if (!request) return;
  await deps.jobs.enqueueAudit({
    id: idempotencyKey('forged', request.id),
    time: new Date(deps.clock.now()).toISOString(),
    outcome: 'refused',
    action: actionOf(request.job.command),
    requester: { id: 'unverified' },
    environment: request.environment,
    ...(request.target ? { target: request.target } : {}),
    args: { approvalId: request.id, claimedUser: String(claimed.user?.id ?? '?'), button: action.action_id },
    message: 'Refused a click with a bad Slack signature on this approval request',
    channel: { id: request.channel },
  });
}
