import type { OpsbotConfig } from '../config/schema.js';
import type { AuditRecord } from '../core/audit.js';
import type { ChannelRef, Person } from '../core/command-job.js';
import { formatDuration } from '../core/duration.js';
import { OpsError, UserInputError, userMessageOf } from '../core/errors.js';
import { type ArgsParser, type ParsedInput, parseInput, withDefaults } from '../core/grammar.js';
import { type Message, message } from '../core/message.js';
import { Dns1123Label } from '../core/names.js';
import { authorize, type Decision, grantsOf, mayUseEmergency, type Principal } from '../core/policy.js';
import { escapeMrkdwn, oneLine, slackText } from '../core/text.js';
import type { Clock, Directory, IncidentDirectory, Jobs, Ledger, RateLimiter } from '../ports.js';
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
  /** Requests per user and window; past it a request is refused (and counted for the audit trail). */
  limiter?: RateLimiter | undefined;
  /** Executed changes by record id, for commands that refer to one (`/ops undo`). */
  ledger?: Ledger | undefined;
}

/** A slash command as it arrived, whatever the transport. */
export interface CommandRequest {
  text: string;
  requester: Person;
  channel: ChannelRef;
  /** Identifies this delivery; a redelivery carries the same value (Slack's trigger_id). */
  deliveryId: string;
}

export type AckKind = 'reply' | 'queued' | 'denied' | 'invalid' | 'limited';
export interface Ack {
  kind: AckKind;
  message: Message;
  jobId?: string;
  /** The registered command the request named, if any: a bounded label for metrics. */
  command?: string;
}

/**
 * The ack path: parse, check policy, and queue. It makes no Kubernetes or GitHub call, so it
 * answers well inside Slack's 3 seconds; denials are queued for the audit trail like everything else.
 */
export async function acceptCommand(deps: AcceptDeps, request: CommandRequest): Promise<Ack> {
  const [rate, groups, incident] = await Promise.all([
    deps.limiter?.take(request.requester, deps.clock.now()),
    deps.directory.groupsOf(request.requester.id),
    deps.incidents?.lookup(request.channel.id),
  ]);
  if (rate && !rate.allowed) {
    const text = `Too many requests: at most ${rate.limit} every ${formatDuration(rate.perMs)}. This one was not run; try again in ${formatDuration(rate.retryAfterMs)}.`;
    return {
      kind: 'limited',
      message: message(text, {
        lines: [`:hourglass: ${text} Refused requests are counted in the audit trail.`],
      }),
    };
  }
  // An incident channel counts as "incident" only for its own environment.
  const channel = incident
    ? {
        ...request.channel,
        isIncident: true,
        ...(incident.environment ? { incidentEnvironment: incident.environment } : {}),
      }
    : request.channel;
  const principal: Principal = {
    userId: request.requester.id,
    groups,
    groupsUnavailable: deps.directory.groupsUnavailable?.(),
    channel,
  };
  const inline: InlineContext = { config: deps.config, principal, commands: deps.commands };

  let command: CommandModule | undefined;
  const deny = async (scope: Scope, reason: string, wouldAllow: string[] = []): Promise<Ack> => {
    const jobId = idempotencyKey('deny', request.deliveryId);
    await deps.jobs.enqueueAudit(
      denialRecord(jobId, request, command!, scope, deps.clock.now(), `Denied: ${oneLine(reason)}.`),
    );
    const rule = wouldAllow.length ? ` Allowed by: ${wouldAllow.map((r) => `\`${r}\``).join(', ')}.` : '';
    return {
      kind: 'denied',
      jobId,
      command: command!.name,
      message: message(`Denied: ${slackText(reason)}.`, {
        lines: [`:no_entry: Denied: ${slackText(reason)}.${rule}`],
      }),
    };
  };
  try {
    const input = parseInput(request.text);
    if (input.words.length === 0) return helpAck(inline, 'reply');
    const found = findCommand(input.words, deps.commands);
    command = found?.command;
    if (!found || !command) {
      throw new UserInputError(`I don't know "${input.words[0]}".`, { code: 'unknown_command' });
    }
    // A verb whose feature opsbot.yml does not turn on is refused here, before anything is queued.
    if (command.unavailable) throw new UserInputError(command.unavailable, { code: 'unknown_command' });
    const given = { words: found.rest, flags: input.flags };
    const parser: unknown = command.parse;
    const defaulted = incident && isArgsParser(parser) ? withDefaults(given, parser, incident) : given;
    // Bound commands pass their feature's services themselves; the engine has none to give.
    const listed = command.listing?.(inline, given, undefined);
    if (listed) return { kind: 'reply', command: command.name, message: listed };
    const rest = command.resolve ? await command.resolve(defaulted, { ledger: deps.ledger }) : defaulted;
    const action = command.actionOf?.(rest) ?? command.action;

    // Permission first: the verb and the environment are enough. Only someone who may run the command
    // here gets to learn, from its validation, which runbooks, parameters or bounds exist.
    if (action) {
      const environment = command.environmentOf
        ? command.environmentOf(rest, deps.config, { incident })
        : flagText(rest.flags.env);
      if (environment !== undefined) {
        if (!Object.hasOwn(deps.config.environments, environment)) {
          throw unknownEnvironment(deps, principal, command, environment);
        }
        const decision = authorize(deps.config, principal, action, environment);
        if (!decision.allowed) {
          return await deny(earlyScope(rest, environment), decision.reason, decision.wouldAllow);
        }
      }
    }

    const args = command.parse(rest);
    if (command.reply) return { kind: 'reply', command: command.name, message: command.reply(inline, args) };

    const scope = command.scope?.(args, deps.config);
    if (!action || !scope) throw new Error(`command ${command.name} has neither reply nor scope`);
    if (!Object.hasOwn(deps.config.environments, scope.environment)) {
      throw unknownEnvironment(deps, principal, command, scope.environment);
    }
    const environment = deps.config.environments[scope.environment]!;

    // Bound commands pass their feature's services themselves; the engine has none to give.
    command.check?.(deps.config, args, undefined);
    // Every permission the request needs (a runbook: each step's) is checked now, so a run is never half-allowed.
    const needs = [
      { action, environment: scope.environment },
      ...(command.requires?.(deps.config, args, undefined) ?? []),
    ];
    const decisions: Decision[] = needs.map((n) =>
      authorize(deps.config, principal, n.action, n.environment),
    );
    const decision = decisions.find((d) => !d.allowed) ?? decisions[0]!;
    if (!decision.allowed) return await deny(scope, decision.reason, decision.wouldAllow);
    const guarded =
      (environment.protected && command.mutates === true) ||
      command.needsApproval?.(deps.config, args, undefined) === true;
    if (guarded && !scope.reason) {
      throw new UserInputError(`${scope.environment} is protected: say why with --reason "<text>".`);
    }
    const emergency = guarded && scope.emergency === true;
    if (emergency && !mayUseEmergency(deps.config, principal, scope.environment)) {
      return await deny(scope, `--emergency in ${scope.environment} is not granted to any role you hold`);
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
    return {
      kind: 'queued',
      jobId,
      command: command.name,
      message: message(text, { lines: [`:inbox_tray: ${text} ${next}`] }),
    };
  } catch (err) {
    if (!(err instanceof OpsError)) throw err;
    const usage = command ? [`Usage: \`${command.usage}\``] : usageLines(inline);
    // Error messages may quote what was typed: escaped, so they show it rather than render it.
    const said = escapeMrkdwn(userMessageOf(err));
    return {
      kind: 'invalid',
      ...(command ? { command: command.name } : {}),
      message: message(said, { lines: [`:warning: ${said}`, ...usage] }),
    };
  }
}

function flagText(value: string | true | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** What a request denied before its arguments were validated is known to be about. */
function earlyScope(input: ParsedInput, environment: string): Scope {
  const first = input.words[0];
  const reason = flagText(input.flags.reason);
  return {
    environment,
    ...(first && Dns1123Label.safeParse(first).success ? { target: first } : {}),
    ...(reason && oneLine(reason) ? { reason: oneLine(reason).slice(0, 500) } : {}),
  };
}

/** The environments listed are only those where the user may run the command: no map for strangers. */
function unknownEnvironment(
  deps: AcceptDeps,
  principal: Principal,
  command: CommandModule,
  environment: string,
): UserInputError {
  const mine = (command.action && grantsOf(deps.config, principal).get(command.action)) ?? [];
  const known = Object.keys(deps.config.environments).filter((e) => mine.includes(e));
  return new UserInputError(
    `There is no environment "${oneLine(environment).slice(0, 63)}".${known.length ? ` Known: ${known.join(', ')}.` : ''}`,
    { code: 'unknown_environment' },
  );
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
