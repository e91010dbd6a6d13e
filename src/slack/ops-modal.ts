import { createHash } from 'node:crypto';
import type { InputBlock, KnownBlock, ModalView, PlainTextOption, View, WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { z } from 'zod';
import { age } from '../../commands/shared.js';
import type { OpsbotConfig } from '../config/schema.js';
import { OpsError, userMessageOf } from '../core/errors.js';
import type { ArgSpec } from '../core/grammar.js';
import type { Principal } from '../core/policy.js';
import type { Ack, CommandRequest } from '../engine/accept-command.js';
import {
  commandText,
  deploymentChoices,
  type FormCommand,
  formActions,
  formCommands,
  formContext,
  formEnvironments,
  revisionChoices,
} from '../engine/command-form.js';
import type { CommandModule } from '../engine/command-module.js';
import type { Clock, Cluster, Directory } from '../ports.js';
import { clipText } from './render.js';

/**
 * The /ops modal: environment, then deployment (from the cluster), then an action the user may run
 * there, then that command's own arguments. Submitting builds the text the user would have typed
 * and hands it to the ack path, so policy, approval, queue and audit are the typed command's.
 */

export const MODAL_CALLBACK = 'ops.modal';
export const MODAL_ACTIONS = {
  env: 'ops.modal.env',
  deployment: 'ops.modal.deployment',
  action: 'ops.modal.action',
} as const;
const BLOCK = { env: 'ops.env', deployment: 'ops.deployment', action: 'ops.action' } as const;
/** Each command argument's field: block and action ids carry the argument's name. */
const argId = (name: string) => `arg.${name}`;

/** https://docs.slack.dev/reference/surfaces/views: a modal title of at most 24 characters. */
const TITLE = 'opsbot';
/** https://docs.slack.dev/reference/block-kit/composition-objects/option-object: option text up to 75 characters. */
const OPTION_TEXT_MAX = 75;
/** https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element: at most 100 options. */
const OPTIONS_MAX = 100;

export interface ModalDeps {
  config: OpsbotConfig;
  /** Every command as the engine runs it; read per request, as features start after the app. */
  commands(): readonly CommandModule[];
  cluster: Cluster;
  /** Starts loading the cluster client as a form opens, so the first list it asks for need not wait. */
  warmCluster?(): void;
  directory: Directory;
  clock: Clock;
  accept(request: CommandRequest): Promise<Ack>;
  log: Logger;
}

/** What the modal carries between steps: where /ops was typed, and what was picked so far. */
const ModalState = z.object({
  channel: z.object({ id: z.string().min(1), name: z.string().optional() }),
  env: z.string().optional(),
  deployment: z.string().optional(),
  action: z.string().optional(),
});
type ModalState = z.infer<typeof ModalState>;

/** A value in a view's state, as view_submission and block_actions payloads carry it. */
const StateValue = z.object({
  type: z.string(),
  value: z.string().nullish(),
  selected_option: z.object({ value: z.string() }).nullish(),
  selected_options: z.array(z.object({ value: z.string() })).nullish(),
});
export const ViewStateValues = z.record(z.string(), z.record(z.string(), StateValue));
type ViewStateValues = z.infer<typeof ViewStateValues>;

/** The view fields opsbot reads back from a payload: its id, hash, metadata and state. */
export const ModalPayloadView = z.object({
  id: z.string(),
  hash: z.string().optional(),
  callback_id: z.string().optional(),
  private_metadata: z.string().optional(),
  state: z.object({ values: ViewStateValues }).optional(),
});
type ModalPayloadView = z.infer<typeof ModalPayloadView>;

function readValue(
  values: ViewStateValues | undefined,
  block: string,
  action = block,
): string | true | undefined {
  const v = values?.[block]?.[action];
  if (!v) return undefined;
  if (v.selected_option) return v.selected_option.value;
  if (v.selected_options) return v.selected_options.length > 0 ? true : undefined;
  return v.value ?? undefined;
}

function text(value: string | true | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function option(label: string, value: string): PlainTextOption {
  return { text: { type: 'plain_text', text: clipText(label, OPTION_TEXT_MAX) }, value };
}

function plain(t: string) {
  return { type: 'plain_text' as const, text: t };
}

export function createOpsModal(deps: ModalDeps) {
  const forms = () => formCommands(deps.commands());

  async function principalOf(userId: string, channel: ModalState['channel']): Promise<Principal> {
    return { userId, groups: await deps.directory.groupsOf(userId), channel };
  }

  /** The field of one command argument; env and deployment are the steps above, not fields. */
  function argField(
    form: FormCommand,
    arg: ArgSpec,
    principal: Principal,
    env: string,
  ): InputBlock | undefined {
    const context = formContext(deps.config, principal, form, env);
    const id = argId(arg.name);
    const label = arg.name.charAt(0).toUpperCase() + arg.name.slice(1).replace(/-/g, ' ');
    const optional = !(arg.required || (arg.name === 'reason' && context.reasonRequired));
    const base = { type: 'input' as const, block_id: id, optional };
    if (arg.name === 'to' && form.command.name === 'rollback') {
      return {
        ...base,
        label: plain('Revision'),
        hint: plain('Leave empty for the previous revision. Each shows image · change-cause · age.'),
        element: {
          type: 'external_select',
          action_id: id,
          min_query_length: 0,
          placeholder: plain('Pick a revision'),
        },
      };
    }
    if (arg.name === 'replicas') {
      const bounds = context.scale;
      return {
        ...base,
        label: plain('Replicas'),
        ...(bounds ? { hint: plain(`${env} allows ${bounds.min} to ${bounds.max} replicas.`) } : {}),
        element: {
          type: 'number_input',
          action_id: id,
          is_decimal_allowed: false,
          min_value: String(bounds?.min ?? 0),
          ...(bounds ? { max_value: String(bounds.max) } : {}),
        },
      };
    }
    if (!arg.takesValue) {
      // Break-glass is offered only to those who may use it, and only where approval would apply.
      if (arg.name === 'emergency' && !context.mayUseEmergency) return undefined;
      const what =
        arg.name === 'emergency' ? 'Break-glass: run without approval' : (arg.description ?? label);
      return {
        ...base,
        optional: true,
        label: plain(label),
        element: { type: 'checkboxes', action_id: id, options: [option(what, 'yes')] },
      };
    }
    return {
      ...base,
      label: plain(label),
      ...(arg.name === 'reason' && context.reasonRequired
        ? { hint: plain(`${env} is protected: say why; a second person approves.`) }
        : arg.description
          ? { hint: plain(arg.description) }
          : {}),
      element: { type: 'plain_text_input', action_id: id, max_length: 500 },
    };
  }

  /** The modal for what has been picked so far; every step shows only what this user may run. */
  async function view(userId: string, state: ModalState): Promise<ModalView> {
    const principal = await principalOf(userId, state.channel);
    const all = forms();
    const envs = formEnvironments(deps.config, principal, all);
    const blocks: KnownBlock[] = [];
    const metadata = JSON.stringify(state);
    if (envs.length === 0) {
      blocks.push({
        type: 'section',
        text: { type: 'mrkdwn', text: 'None of your roles may run an action in any environment here.' },
      });
      return {
        type: 'modal',
        callback_id: MODAL_CALLBACK,
        title: plain(TITLE),
        close: plain('Close'),
        private_metadata: metadata,
        blocks,
      };
    }
    const env = state.env && envs.includes(state.env) ? state.env : undefined;
    blocks.push({
      type: 'input',
      block_id: BLOCK.env,
      dispatch_action: true,
      label: plain('Environment'),
      element: {
        type: 'static_select',
        action_id: MODAL_ACTIONS.env,
        placeholder: plain('Pick an environment'),
        options: envs.slice(0, OPTIONS_MAX).map((e) => option(e, e)),
        ...(env ? { initial_option: option(env, env) } : {}),
      },
    });
    if (env) {
      blocks.push({
        type: 'input',
        block_id: BLOCK.deployment,
        dispatch_action: true,
        label: plain('Deployment'),
        element: {
          // The cluster may hold more deployments than a static select's 100 options: asked as the user types.
          type: 'external_select',
          action_id: MODAL_ACTIONS.deployment,
          min_query_length: 0,
          placeholder: plain('Pick a deployment'),
          ...(state.deployment ? { initial_option: option(state.deployment, state.deployment) } : {}),
        },
      });
    }
    if (env && state.deployment) {
      const actions = formActions(deps.config, principal, all, env);
      const chosen = actions.find((f) => f.command.name === state.action);
      blocks.push({
        type: 'input',
        block_id: BLOCK.action,
        dispatch_action: true,
        label: plain('Action'),
        element: {
          type: 'static_select',
          action_id: MODAL_ACTIONS.action,
          placeholder: plain('Pick an action'),
          options: actions
            .slice(0, OPTIONS_MAX)
            .map((f) => option(`${f.command.name}: ${f.command.summary}`, f.command.name)),
          ...(chosen
            ? {
                initial_option: option(
                  `${chosen.command.name}: ${chosen.command.summary}`,
                  chosen.command.name,
                ),
              }
            : {}),
        },
      });
      if (chosen) {
        for (const arg of chosen.args) {
          if (arg.name === 'deployment' || arg.name === 'env') continue;
          const field = argField(chosen, arg, principal, env);
          if (field) blocks.push(field);
        }
        const context = formContext(deps.config, principal, chosen, env);
        blocks.push({
          type: 'context',
          elements: [
            {
              type: 'mrkdwn',
              text: context.needsApproval
                ? `${env} is protected: a second person approves before it runs. Same as typing \`/ops ${chosen.command.usage.replace(/^\/ops /, '')}\`.`
                : `Same as typing \`/ops ${chosen.command.usage.replace(/^\/ops /, '')}\`.`,
            },
          ],
        });
      }
    }
    return {
      type: 'modal',
      callback_id: MODAL_CALLBACK,
      title: plain(TITLE),
      close: plain('Cancel'),
      // Slack requires a submit button on a modal with input blocks; before an action is picked it says so.
      submit: plain('Run'),
      private_metadata: metadata,
      blocks,
    };
  }

  function stateOf(payloadView: ModalPayloadView): ModalState | undefined {
    const parsed = ModalState.safeParse(safeJson(payloadView.private_metadata));
    return parsed.success ? parsed.data : undefined;
  }

  return {
    /** Opens the first step for `/ops` typed with nothing after it. */
    async open(client: WebClient, triggerId: string, userId: string, channel: ModalState['channel']) {
      deps.warmCluster?.();
      await client.views.open({ trigger_id: triggerId, view: await view(userId, { channel }) });
    },

    /** A pick in one step (dispatch_action) redraws the modal for the next one. */
    async step(client: WebClient, userId: string, rawView: unknown): Promise<void> {
      const payloadView = ModalPayloadView.parse(rawView);
      const before = stateOf(payloadView);
      if (!before) return;
      const values = payloadView.state?.values;
      const env = text(readValue(values, BLOCK.env, MODAL_ACTIONS.env));
      const sameEnv = env === before.env;
      const deployment = sameEnv
        ? text(readValue(values, BLOCK.deployment, MODAL_ACTIONS.deployment))
        : undefined;
      const action = sameEnv ? text(readValue(values, BLOCK.action, MODAL_ACTIONS.action)) : undefined;
      const next: ModalState = {
        channel: before.channel,
        ...(env ? { env } : {}),
        ...(deployment ? { deployment } : {}),
        ...(action ? { action } : {}),
      };
      await client.views.update({
        view_id: payloadView.id,
        ...(payloadView.hash ? { hash: payloadView.hash } : {}),
        view: (await view(userId, next)) as View,
      });
    },

    /** Options of an external select (block_suggestion): deployments, or a deployment's revisions. */
    async suggest(
      userId: string,
      actionId: string,
      query: string,
      rawView: unknown,
    ): Promise<PlainTextOption[]> {
      const state = stateOf(ModalPayloadView.parse(rawView));
      if (!state) return [];
      const values = ModalPayloadView.parse(rawView).state?.values;
      const env = text(readValue(values, BLOCK.env, MODAL_ACTIONS.env)) ?? state.env;
      if (!env) return [];
      const principal = await principalOf(userId, state.channel);
      // Nothing about an environment is listed to someone who may run nothing there.
      if (!formEnvironments(deps.config, principal, forms()).includes(env)) return [];
      const needle = query.trim().toLowerCase();
      if (actionId === MODAL_ACTIONS.deployment) {
        const names = await deploymentChoices(deps.cluster, deps.config, env);
        return names
          .filter((n) => n.toLowerCase().includes(needle))
          .slice(0, OPTIONS_MAX)
          .map((n) => option(n, n));
      }
      const deployment =
        text(readValue(values, BLOCK.deployment, MODAL_ACTIONS.deployment)) ?? state.deployment;
      if (actionId === argId('to') && deployment) {
        const now = deps.clock.now();
        const revisions = await revisionChoices(deps.cluster, deps.config, env, deployment);
        return revisions
          .map((r) => ({
            r,
            // Within 75 characters: number, age and image first, so a long change-cause is what gets cut.
            label: `${r.revision}${r.current ? ' (current)' : ''} · ${age(r.createdAt, now)} ago · ${r.images.map((i) => i.replace(/^[^=]+=/, '')).join(', ') || 'no image'} · ${r.changeCause ?? 'no change-cause'}`,
          }))
          .filter(({ label }) => label.toLowerCase().includes(needle))
          .slice(0, OPTIONS_MAX)
          .map(({ r, label }) => option(label, String(r.revision)));
      }
      return [];
    },

    /**
     * view_submission: the command text the values stand for, through the ack path. A Slack retry
     * of the same submission carries the same view and values, so the same delivery id: it runs once.
     */
    async submit(
      userId: string,
      userName: string | undefined,
      rawView: unknown,
    ): Promise<{ errors: Record<string, string> } | { ack: Ack; channel: string }> {
      const payloadView = ModalPayloadView.parse(rawView);
      const state = stateOf(payloadView);
      if (!state) return { errors: { [BLOCK.env]: 'This form is out of date; open it again with /ops.' } };
      const values = payloadView.state?.values;
      const env = text(readValue(values, BLOCK.env, MODAL_ACTIONS.env)) ?? state.env;
      const deployment =
        text(readValue(values, BLOCK.deployment, MODAL_ACTIONS.deployment)) ?? state.deployment;
      const action = text(readValue(values, BLOCK.action, MODAL_ACTIONS.action)) ?? state.action;
      const form = forms().find((f) => f.command.name === action);
      // Errors may only name input blocks the modal shows: the first step still open.
      if (!env) return { errors: { [BLOCK.env]: 'Pick an environment.' } };
      if (!deployment) return { errors: { [BLOCK.deployment]: 'Pick a deployment.' } };
      if (!form) return { errors: { [BLOCK.action]: 'Pick an action.' } };
      const fields: Record<string, string | true | undefined> = { env, deployment };
      for (const arg of form.args) {
        if (arg.name === 'env' || arg.name === 'deployment') continue;
        fields[arg.name] = readValue(values, argId(arg.name));
      }
      let commandLine: string;
      try {
        commandLine = commandText(form, fields);
      } catch (err) {
        if (!(err instanceof OpsError)) throw err;
        return { errors: { [argId('reason')]: userMessageOf(err) } };
      }
      const digest = createHash('sha256').update(commandLine).digest('hex').slice(0, 16);
      const ack = await deps.accept({
        text: commandLine,
        requester: { id: userId, ...(userName ? { name: userName } : {}) },
        channel: state.channel,
        deliveryId: `view/${payloadView.id}/${digest}`,
      });
      deps.log.info({ user: userId, command: form.command.name, outcome: ack.kind }, 'modal submitted');
      // Invalid input stays in the modal, beside the action, for the user to correct.
      if (ack.kind === 'invalid') return { errors: { [BLOCK.action]: clipText(ack.message.text, 1000) } };
      return { ack, channel: state.channel.id };
    },
  };
}

export type OpsModal = ReturnType<typeof createOpsModal>;

function safeJson(raw: string | undefined): unknown {
  try {
    return raw ? (JSON.parse(raw) as unknown) : undefined;
  } catch {
    return undefined;
  }
}
