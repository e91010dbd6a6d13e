import type { OpsbotConfig } from '../config/schema.js';
import { MUTATING_ACTIONS } from '../core/actions.js';
import type { AuditRecord } from '../core/audit.js';
import { OpsError, UserInputError, userMessageOf } from '../core/errors.js';
import { type ArgsParser, parseInput, withDefaults } from '../core/grammar.js';
import { type Message, message } from '../core/message.js';
import { authorize, mayUseEmergency, type Principal } from '../core/policy.js';
import type { Clock, Directory, IncidentDirectory, Jobs } from '../ports.js';
import type { ChannelRef, Person } from './command-job.js';
import {
  type CommandModule,
  findCommand,
  type InlineContext,
  type Scope,
  usageLines,
} from './command-module.js';
import { idempotencyKey } from './keys.js';

export interface AcceptDeps {
  config: OpsbotConfig;
  jobs: Jobs;
  directory: Directory;
  clock: Clock;
  commands: readonly CommandModule[];
  /** Incident channels give commands their defaults and get every action commented on their issue. */
  incidents?: IncidentDirectory | undefined;
}

/** A slash command as it arrived, whatever the transport. */
export interface CommandRequest {
  text: string;
  requester: Person;
  channel: ChannelRef;
  /** Identifies this delivery; a redelivery carries the same value (Slack's trigger_id). */
  deliveryId: string;
}

export type AckKind = 'reply' | 'queued' | 'denied' | 'invalid';
export interface Ack {
  kind: AckKind;
  message: Message;
  jobId?: string;
}

/**
 * The ack path: parse, check policy, and queue. It makes no Kubernetes or GitHub call, so it
 * answers well inside Slack's 3 seconds; denials are queued for the audit trail like everything else.
 */
export async function acceptCommand(deps: AcceptDeps, request: CommandRequest): Promise<Ack> {
  const [groups, incident] = await Promise.all([
    deps.directory.groupsOf(request.requester.id),
    deps.incidents?.lookup(request.channel.id),
  ]);
  const channel = incident ? { ...request.channel, isIncident: true } : request.channel;
  const principal: Principal = { userId: request.requester.id, groups, channel };
  const inline: InlineContext = { config: deps.config, principal, commands: deps.commands };

  let command: CommandModule | undefined;
  try {
    const input = parseInput(request.text);
    if (input.words.length === 0) return helpAck(inline, 'reply');
    const found = findCommand(input.words, deps.commands);
    command = found?.command;
    if (!found || !command) {
      throw new UserInputError(`I don't know "${input.words[0]}".`, { code: 'unknown_command' });
    }
    const given = { words: found.rest, flags: input.flags };
    const parser: unknown = command.parse;
    const rest = incident && isArgsParser(parser) ? withDefaults(given, parser, incident) : given;
    const args = command.parse(rest);
    if (command.reply) return { kind: 'reply', message: command.reply(inline, args) };

    const scope = command.scope?.(args, deps.config);
    if (!command.action || !scope) throw new Error(`command ${command.name} has neither reply nor scope`);
    const environment = deps.config.environments[scope.environment];
    if (!environment) {
      const known = Object.keys(deps.config.environments).join(', ');
      throw new UserInputError(`There is no environment "${scope.environment}". Known: ${known}.`, {
        code: 'unknown_environment',
      });
    }

    command.check?.(deps.config, args);
    // Every permission the request needs (a runbook: each step's) is checked now, so a run is never half-allowed.
    const needs = [
      { action: command.action, environment: scope.environment },
      ...(command.requires?.(deps.config, args) ?? []),
    ];
    const decisions = needs.map((n) => authorize(deps.config, principal, n.action, n.environment));
    const decision = decisions.find((d) => !d.allowed) ?? decisions[0]!;
    if (!decision.allowed) {
      const jobId = idempotencyKey('deny', request.deliveryId);
      await deps.jobs.enqueueAudit(
        denialRecord(jobId, request, command, scope, deps.clock.now(), `Denied: ${decision.reason}.`),
      );
      const rule = decision.wouldAllow.length
        ? ` Allowed by: ${decision.wouldAllow.map((r) => `\`${r}\``).join(', ')}.`
        : '';
      return {
        kind: 'denied',
        jobId,
        message: message(`Denied: ${decision.reason}.`, {
          lines: [`:no_entry: Denied: ${decision.reason}.${rule}`],
        }),
      };
    }
    const guarded =
      (environment.protected && MUTATING_ACTIONS.has(command.action)) ||
      command.needsApproval?.(deps.config, args) === true;
    if (guarded && !scope.reason) {
      throw new UserInputError(`${scope.environment} is protected: say why with --reason "<text>".`);
    }
    const emergency = guarded && scope.emergency === true;
    if (emergency && !mayUseEmergency(deps.config, principal, scope.environment)) {
      const jobId = idempotencyKey('deny', request.deliveryId);
      const reason = `--emergency in ${scope.environment} is not granted to any role you hold`;
      await deps.jobs.enqueueAudit(
        denialRecord(jobId, request, command, scope, deps.clock.now(), `Denied: ${reason}.`),
      );
      return {
        kind: 'denied',
        jobId,
        message: message(`Denied: ${reason}.`, { lines: [`:no_entry: Denied: ${reason}.`] }),
      };
    }

    const jobId = idempotencyKey('cmd', request.deliveryId);
    const needsApproval = guarded && !emergency;
    const { duplicate } = await deps.jobs.enqueueCommand({
      id: jobId,
      command: command.name,
      input: rest,
      requester: request.requester,
      channel: request.channel,
      requestedAt: deps.clock.now(),
      ...(incident ? { channel, incident: { repo: incident.repo, issue: incident.issue } } : {}),
      stage: needsApproval ? 'approval' : 'run',
      ...(emergency ? { emergency: true } : {}),
    });
    const what = [command.name, scope.target, 'in', scope.environment].filter(Boolean).join(' ');
    const text = duplicate
      ? `Already accepted: ${what} (job ${jobId}).`
      : `Accepted: ${what} (job ${jobId}).`;
    const next = needsApproval
      ? `${scope.environment} is protected: I'll post the plan here for a second person to approve.`
      : emergency
        ? 'Break-glass: running without approval; a review issue will be opened.'
        : "I'll post the outcome in this channel.";
    return { kind: 'queued', jobId, message: message(text, { lines: [`:inbox_tray: ${text} ${next}`] }) };
  } catch (err) {
    if (!(err instanceof OpsError)) throw err;
    const usage = command ? [`Usage: \`${command.usage}\``] : usageLines(inline);
    return {
      kind: 'invalid',
      message: message(userMessageOf(err), { lines: [`:warning: ${userMessageOf(err)}`, ...usage] }),
    };
  }
}

function helpAck(inline: InlineContext, kind: AckKind): Ack {
  return {
    kind,
    message: message('opsbot commands', { lines: ['*What you can run here:*', ...usageLines(inline)] }),
  };
}

function denialRecord(
  id: string,
  request: CommandRequest,
  command: CommandModule,
  scope: Scope,
  now: number,
  text: string,
): AuditRecord {
  return {
    id,
    time: new Date(now).toISOString(),
    outcome: 'denied',
    action: command.action ?? command.name,
    requester: request.requester,
    environment: scope.environment,
    ...(scope.target ? { target: scope.target } : {}),
    ...(scope.reason ? { reason: scope.reason } : {}),
    args: { text: request.text },
    message: text,
    channel: { id: request.channel.id, ...(request.channel.name ? { name: request.channel.name } : {}) },
  };
}

function isArgsParser(parse: unknown): parse is ArgsParser<unknown> {
  return typeof parse === 'function' && Array.isArray((parse as Partial<ArgsParser<unknown>>).positionals);
}
