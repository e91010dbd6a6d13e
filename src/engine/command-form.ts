import type { OpsbotConfig } from '../config/schema.js';
import {
  CHANGE_CAUSE_ANNOTATION,
  currentRevision,
  imagesOf,
  ownedReplicaSets,
  revisionOf,
} from '../core/deployment.js';
import { UserInputError } from '../core/errors.js';
import type { ArgSpec, ArgsParser } from '../core/grammar.js';
import { grantsOf, mayUseEmergency, type Principal } from '../core/policy.js';
import type { Cluster } from '../ports.js';
import type { CommandModule } from './command-module.js';
import { resolveTarget } from './run-command.js';

/**
 * A command a form (the /ops modal) can offer: it acts on one deployment in one environment. Its
 * fields are the arguments its parser declares, so chat and form share one grammar.
 */
export interface FormCommand {
  command: CommandModule;
  /** The parser's arguments, in order: positionals, then flags. */
  args: readonly ArgSpec[];
}

/** The values a form collected, by argument name; `true` for a ticked boolean flag. */
export type FormValues = Readonly<Record<string, string | true | undefined>>;

function parserOf(command: CommandModule): ArgsParser<unknown> | undefined {
  const parse = command.parse as Partial<ArgsParser<unknown>>;
  return Array.isArray(parse.positionals) && Array.isArray(parse.args)
    ? (parse as ArgsParser<unknown>)
    : undefined;
}

/** The registered commands a form can run: a permission, a <deployment> first and an --env flag. */
export function formCommands(commands: readonly CommandModule[]): FormCommand[] {
  return commands.flatMap((command) => {
    const parser = parserOf(command);
    if (!parser || !command.action || command.unavailable) return [];
    if (parser.positionals[0] !== 'deployment' || !parser.flags.includes('env')) return [];
    return [{ command, args: parser.args }];
  });
}

/** Environments, in opsbot.yml order, where the user may run at least one form command. */
export function formEnvironments(
  config: OpsbotConfig,
  principal: Pick<Principal, 'userId' | 'groups'>,
  forms: readonly FormCommand[],
): string[] {
  const grants = grantsOf(config, principal);
  return Object.keys(config.environments).filter((env) =>
    forms.some((f) => grants.get(f.command.action ?? '')?.includes(env)),
  );
}

/** The form commands this user may run in this environment: nothing else is offered. */
export function formActions(
  config: OpsbotConfig,
  principal: Pick<Principal, 'userId' | 'groups'>,
  forms: readonly FormCommand[],
  environment: string,
): FormCommand[] {
  const grants = grantsOf(config, principal);
  return forms.filter((f) => grants.get(f.command.action ?? '')?.includes(environment));
}

/** What a form shows beside a command's fields in an environment: bounds, protection, break-glass. */
export function formContext(
  config: OpsbotConfig,
  principal: Pick<Principal, 'userId' | 'groups'>,
  form: FormCommand,
  environment: string,
) {
  const env = config.environments[environment];
  const guarded = env?.protected === true && form.command.mutates === true;
  return {
    scale: env?.scale,
    /** A protected environment needs a reason for every change (accept-command refuses one without). */
    reasonRequired: guarded,
    needsApproval: guarded,
    mayUseEmergency: guarded && mayUseEmergency(config, principal, environment),
  };
}

const PLAIN = /^[A-Za-z0-9._:/@+-]+$/;
/** Openers the tokenizer honours, each with its closer: a value is wrapped in one it does not contain. */
const QUOTE_PAIRS = [
  ['"', '"'],
  ["'", "'"],
  ['“', '”'],
  ['‘', '’'],
] as const;

function quote(value: string): string {
  if (PLAIN.test(value)) return value;
  const pair = QUOTE_PAIRS.find(([, close]) => !value.includes(close));
  if (!pair) throw new UserInputError('That text uses every kind of quote mark; leave one kind out.');
  return `${pair[0]}${value}${pair[1]}`;
}

/**
 * The command text a form's values stand for, exactly as a user would type it, so a submitted
 * form takes the typed command's path: grammar, policy, approval, queue and audit.
 */
export function commandText(form: FormCommand, values: FormValues): string {
  const words = [form.command.name];
  for (const arg of form.args) {
    const value = Object.hasOwn(values, arg.name) ? values[arg.name] : undefined;
    if (value === undefined || value === '') continue;
    if (arg.positional) words.push(quote(String(value)));
    else if (!arg.takesValue) {
      if (value === true) words.push(`--${arg.name}`);
    } else words.push(`--${arg.name}=${quote(String(value))}`);
  }
  return words.join(' ');
}

export interface RevisionChoice {
  revision: number;
  images: string[];
  changeCause: string | undefined;
  createdAt: string | undefined;
  current: boolean;
}

/** A deployment's revisions, newest first, as `kubectl rollout history` lists them. */
export async function revisionChoices(
  cluster: Cluster,
  config: OpsbotConfig,
  environment: string,
  deploymentName: string,
): Promise<RevisionChoice[]> {
  const target = resolveTarget(config, environment);
  const deployment = await cluster.getDeployment(target, deploymentName);
  const replicaSets = await cluster.listReplicaSets(target, deployment);
  const current = currentRevision(deployment, replicaSets);
  return ownedReplicaSets(deployment, replicaSets)
    .flatMap((rs) => {
      const revision = revisionOf(rs);
      return revision === undefined
        ? []
        : [
            {
              revision,
              images: imagesOf(rs.template),
              changeCause: rs.annotations[CHANGE_CAUSE_ANNOTATION],
              createdAt: rs.createdAt,
              current: revision === current,
            },
          ];
    })
    .sort((a, b) => b.revision - a.revision);
}

/** The deployments in an environment's namespace. */
export function deploymentChoices(cluster: Cluster, config: OpsbotConfig, environment: string) {
  return cluster.listDeployments(resolveTarget(config, environment));
}
