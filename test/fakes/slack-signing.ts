import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { SLACK_FAKE_BOT, SLACK_FAKE_TEAM } from './slack.js';

/**
 * Builds requests to a Bolt app the way Slack sends them: signed with the app's signing secret
 * (https://docs.slack.dev/authentication/verifying-requests-from-slack), with realistic payloads.
 */

export interface SlackSignatureHeaders {
  'x-slack-signature': string;
  'x-slack-request-timestamp': string;
  'content-type': string;
}

/** Slash commands and interactions are form-encoded; Events API callbacks are JSON. */
function guessContentType(rawBody: string): string {
  return /^\s*\{/.test(rawBody) ? 'application/json' : 'application/x-www-form-urlencoded';
}

export function signSlackRequest(
  signingSecret: string,
  rawBody: string,
  timestampSeconds: number = Math.floor(Date.now() / 1000),
): SlackSignatureHeaders {
  const digest = createHmac('sha256', signingSecret)
    .update(`v0:${timestampSeconds}:${rawBody}`)
    .digest('hex');
  return {
    'x-slack-signature': `v0=${digest}`,
    'x-slack-request-timestamp': String(timestampSeconds),
    'content-type': guessContentType(rawBody),
  };
}

/** A unique trigger id shaped like Slack's: `<digits>.<digits>.<32 hex>`. */
export function newTriggerId(): string {
  return `${randomInt(1e9, 1e10)}${randomInt(1e3, 1e4)}.${randomInt(1e9, 1e10)}${randomInt(1e3, 1e4)}.${randomBytes(16).toString('hex')}`;
}

/** The form fields Slack posts for a slash command. */
export interface SlashCommandFields {
  token: string;
  team_id: string;
  team_domain: string;
  channel_id: string;
  channel_name: string;
  user_id: string;
  user_name: string;
  command: string;
  text: string;
  api_app_id: string;
  is_enterprise_install: string;
  response_url: string;
  trigger_id: string;
}

/** Slack's deprecated verification token; still present in every payload. */
export const SLACK_VERIFICATION_TOKEN = 'verification-token';

/** Pass `response_url: slack.responseUrl()` so the bot's replies land on the fake instead of hooks.slack.com. */
export function slashCommandBody(fields: Partial<SlashCommandFields> = {}): string {
  const all: SlashCommandFields = {
    token: SLACK_VERIFICATION_TOKEN,
    team_id: SLACK_FAKE_TEAM.id,
    team_domain: SLACK_FAKE_TEAM.domain,
    channel_id: 'C0OPS',
    channel_name: 'ops',
    user_id: 'U0ALICE',
    user_name: 'alice',
    command: '/ops',
    text: '',
    api_app_id: SLACK_FAKE_BOT.appId,
    is_enterprise_install: 'false',
    response_url: `https://hooks.slack.com/commands/${SLACK_FAKE_TEAM.id}/${randomInt(1e9, 1e10)}/${randomBytes(12).toString('hex')}`,
    trigger_id: newTriggerId(),
    ...fields,
  };
  return new URLSearchParams(Object.entries(all)).toString();
}

/** Interactions arrive as a form with one `payload` field holding JSON. */
export function interactionBody(payload: object): string {
  return `payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

export interface BlockActionOptions {
  user?: string | undefined;
  userName?: string | undefined;
  channel?: string | undefined;
  channelName?: string | undefined;
  actionId: string;
  value?: string | undefined;
  blockId?: string | undefined;
  messageTs?: string | undefined;
  messageText?: string | undefined;
  messageBlocks?: unknown[] | undefined;
  responseUrl?: string | undefined;
  triggerId?: string | undefined;
}

export interface BlockActionPayload {
  type: 'block_actions';
  user: { id: string; username: string; name: string; team_id: string };
  api_app_id: string;
  token: string;
  container: { type: 'message'; message_ts: string; channel_id: string; is_ephemeral: false };
  trigger_id: string;
  team: { id: string; domain: string };
  enterprise: null;
  is_enterprise_install: false;
  channel: { id: string; name: string };
  message: { type: 'message'; user: string; bot_id: string; ts: string; text: string; blocks: unknown[] };
  state: { values: Record<string, unknown> };
  response_url: string;
  actions: {
    action_id: string;
    block_id: string;
    text: { type: 'plain_text'; text: string; emoji: boolean };
    value: string;
    type: 'button';
    action_ts: string;
  }[];
}

function slackTs(): string {
  const micros = Date.now() * 1000 + randomInt(0, 1000);
  return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
}

/** A button click on a bot message, as Slack sends it to the app's interactivity URL. */
export function blockActionPayload(opts: BlockActionOptions): BlockActionPayload {
  const userId = opts.user ?? 'U0ALICE';
  const userName = opts.userName ?? 'alice';
  const channelId = opts.channel ?? 'C0OPS';
  const messageTs = opts.messageTs ?? slackTs();
  return {
    type: 'block_actions',
    user: { id: userId, username: userName, name: userName, team_id: SLACK_FAKE_TEAM.id },
    api_app_id: SLACK_FAKE_BOT.appId,
    token: SLACK_VERIFICATION_TOKEN,
    container: { type: 'message', message_ts: messageTs, channel_id: channelId, is_ephemeral: false },
    trigger_id: opts.triggerId ?? newTriggerId(),
    team: { id: SLACK_FAKE_TEAM.id, domain: SLACK_FAKE_TEAM.domain },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: channelId, name: opts.channelName ?? 'ops' },
    message: {
      type: 'message',
      user: SLACK_FAKE_BOT.userId,
      bot_id: SLACK_FAKE_BOT.botId,
      ts: messageTs,
      text: opts.messageText ?? '',
      blocks: opts.messageBlocks ?? [],
    },
    state: { values: {} },
    response_url:
      opts.responseUrl ?? `https://hooks.slack.com/actions/${SLACK_FAKE_TEAM.id}/${randomInt(1e9, 1e10)}/x`,
    actions: [
      {
        action_id: opts.actionId,
        block_id: opts.blockId ?? randomBytes(3).toString('base64url'),
        text: { type: 'plain_text', text: opts.actionId, emoji: true },
        value: opts.value ?? '',
        type: 'button',
        action_ts: slackTs(),
      },
    ],
  };
}

export interface PostSignedOptions {
  /** Signing timestamp in seconds; pass an old one to test replay protection. */
  timestamp?: number | undefined;
  contentType?: string | undefined;
  /** Extra or overriding headers, e.g. a tampered `x-slack-signature`. */
  headers?: Record<string, string> | undefined;
}

export async function postSigned(
  url: string,
  body: string,
  secret: string,
  opts: PostSignedOptions = {},
): Promise<Response> {
  const signed = signSlackRequest(secret, body, opts.timestamp);
  const headers: Record<string, string> = { ...signed, ...opts.headers };
  if (opts.contentType !== undefined) headers['content-type'] = opts.contentType;
  return fetch(url, { method: 'POST', headers, body });
}

/** A view as Slack sends it back in interaction payloads: the app's view, its id and hash, and the user's input. */
export interface PayloadView {
  id: string;
  hash: string;
  state: { values: Record<string, Record<string, unknown>> };
  [key: string]: unknown;
}

function payloadUser(user: { id: string; name: string }) {
  return { id: user.id, username: user.name, name: user.name, team_id: SLACK_FAKE_TEAM.id };
}

const common = {
  api_app_id: SLACK_FAKE_BOT.appId,
  token: SLACK_VERIFICATION_TOKEN,
  team: { id: SLACK_FAKE_TEAM.id, domain: SLACK_FAKE_TEAM.domain },
  enterprise: null,
  is_enterprise_install: false,
};

/**
 * A selection in a modal's input block with dispatch_action, as Slack sends it:
 * https://docs.slack.dev/reference/interaction-payloads/block_actions-payload (container type "view").
 */
export function viewBlockActionPayload(opts: {
  user: { id: string; name: string };
  view: PayloadView;
  blockId: string;
  action: { type: string; action_id: string; selected_option?: unknown; value?: string };
}) {
  return {
    type: 'block_actions',
    ...common,
    user: payloadUser(opts.user),
    container: { type: 'view', view_id: opts.view.id },
    trigger_id: newTriggerId(),
    view: opts.view,
    actions: [{ ...opts.action, block_id: opts.blockId, action_ts: slackTs() }],
  };
}

/**
 * An external select asking for its options as the user types:
 * https://docs.slack.dev/reference/interaction-payloads/block-suggestion-payload.
 */
export function blockSuggestionPayload(opts: {
  user: { id: string; name: string };
  view: PayloadView;
  blockId: string;
  actionId: string;
  value: string;
}) {
  return {
    type: 'block_suggestion',
    ...common,
    user: payloadUser(opts.user),
    container: { type: 'view', view_id: opts.view.id },
    action_id: opts.actionId,
    block_id: opts.blockId,
    value: opts.value,
    view: opts.view,
  };
}

/**
 * A modal submitted: https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload
 * (type view_submission, the view with state.values keyed by block_id, then action_id).
 */
export function viewSubmissionPayload(opts: { user: { id: string; name: string }; view: PayloadView }) {
  return {
    type: 'view_submission',
    ...common,
    user: payloadUser(opts.user),
    trigger_id: newTriggerId(),
    view: opts.view,
    response_urls: [],
  };
}

/**
 * An Events API callback (https://docs.slack.dev/apis/events-api/#callback-field) carrying
 * app_home_opened (https://docs.slack.dev/reference/events/app_home_opened): sent as JSON.
 */
export function appHomeOpenedBody(user: string): string {
  return JSON.stringify({
    token: SLACK_VERIFICATION_TOKEN,
    team_id: SLACK_FAKE_TEAM.id,
    api_app_id: SLACK_FAKE_BOT.appId,
    event: {
      type: 'app_home_opened',
      user,
      channel: `D${randomBytes(4).toString('hex').toUpperCase()}`,
      tab: 'home',
      event_ts: slackTs(),
    },
    type: 'event_callback',
    event_id: `Ev${randomBytes(5).toString('hex').toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
  });
}
