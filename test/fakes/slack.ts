import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { blockErrors, characters, viewErrors } from './block-kit.js';
import {
  HttpError,
  parseBody,
  parseJson,
  parseUrlencoded,
  pollUntil,
  readBody,
  sendJson,
  sendText,
  startServer,
} from './http-server.js';
import { type SlackSocketServer, startSlackSocketServer } from './slack-socket.js';

/**
 * A local fake of the Slack Web API (https://docs.slack.dev/reference/methods): a real HTTP server that keeps
 * workspace state and answers with Slack's shapes and error strings. Point a WebClient at `url` via `slackApiUrl`.
 */

export const SLACK_FAKE_TEAM = { id: 'T0TEST', name: 'Opsbot Test', domain: 'opsbot-test' } as const;
export const SLACK_FAKE_BOT = { userId: 'U0BOT', botId: 'B0BOT', name: 'opsbot', appId: 'A0OPSBOT' } as const;

export interface SlackMethodLimit {
  /** Calls accepted per sliding 60 s window before answering 429. */
  perMinute?: number;
  /** Calls accepted per channel per sliding 1 s window before answering 429. */
  perChannelPerSecond?: number;
}
export type SlackLimits = Readonly<Partial<Record<string, SlackMethodLimit>>>;

export interface StartSlackFakeOptions {
  botToken?: string | undefined;
  /** An app-level token (xapp-…): enables Socket Mode, reached through apps.connections.open. */
  appToken?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  limits?: SlackLimits | undefined;
  /**
   * The bot token's scopes. Given, users.info needs users:read and shows profile.email only with
   * users:read.email; absent, the token holds every scope the app asks for.
   */
  botScopes?: readonly string[] | undefined;
}

export interface SlackCall {
  method: string;
  /** Parsed arguments (JSON-valued form fields decoded), without the token. */
  args: Record<string, unknown>;
  at: number;
  status: number;
}

export interface SlackMessageVersion {
  text: string | undefined;
  blocks: unknown[] | undefined;
  at: number;
}

export interface SlackMessage {
  channel: string;
  ts: string;
  thread_ts: string | undefined;
  user: string;
  /** Current content, after any chat.update. */
  text: string | undefined;
  blocks: unknown[] | undefined;
  /** Every version, oldest (the original post) first; the last one is current. */
  versions: SlackMessageVersion[];
}

export interface SlackEphemeral {
  channel: string;
  user: string;
  text: string | undefined;
  blocks: unknown[] | undefined;
  thread_ts: string | undefined;
  message_ts: string;
  at: number;
}

export interface SlackResponseUrlPost {
  id: string;
  body: unknown;
  at: number;
}

/** A modal or Home tab as the fake holds it: the last view the app sent for it. */
export interface SlackView {
  id: string;
  type: 'modal' | 'home';
  /** Who sees it: the user the trigger belonged to, or the Home tab's user. */
  user: string | undefined;
  hash: string;
  view: Record<string, unknown>;
  /** Every version the app sent, oldest first. */
  versions: Record<string, unknown>[];
}

export interface SlackUser {
  id: string;
  name: string;
  real_name?: string;
  display_name?: string;
  /** The profile's email, shown only to tokens with users:read.email. */
  email?: string;
  deleted?: boolean;
  is_bot?: boolean;
}

export interface SlackUsergroup {
  id: string;
  handle: string;
  name: string;
  users: string[];
}

export interface SlackChannel {
  id: string;
  name: string;
  is_private: boolean;
  is_archived: boolean;
  topic: string;
  members: string[];
  created: number;
  creator: string;
}

export interface AddChannelInput {
  id?: string;
  name: string;
  is_archived?: boolean;
  is_private?: boolean;
  members?: string[];
}

export interface SlackStats {
  perMethod: Record<string, number>;
  /** Highest number of calls of each method inside any sliding 60 s window. */
  maxPerMinute: Record<string, number>;
  /** Highest chat.postMessage + chat.update count to a single channel inside any sliding 1 s window. */
  maxPerChannelPerSecond: number;
}

export interface SlackFake {
  /** Base URL of the Web API, ending in `/api/` as WebClient's `slackApiUrl` expects. */
  readonly url: string;
  /** The Socket Mode endpoint, when started with an app token. */
  readonly socket: SlackSocketServer | undefined;
  readonly calls: readonly SlackCall[];
  readonly ephemerals: readonly SlackEphemeral[];
  readonly responses: readonly SlackResponseUrlPost[];
  /** Live records in posting order: later chat.update calls show up in them. */
  messages(channelId?: string): SlackMessage[];
  /**
   * A trigger_id as Slack puts in a slash command or interaction, issued now for `user`: good for
   * one views.open within 3 s (https://docs.slack.dev/reference/methods/views.open).
   */
  triggerId(user?: string): string;
  /** Modals and Home tabs the app opened, updated or published. */
  views(): SlackView[];
  /** The Home tab last published for a user. */
  home(user: string): SlackView | undefined;
  /** A URL on this fake that accepts POSTs as Slack's `response_url` does. */
  responseUrl(id?: string): string;
  channels(): SlackChannel[];
  addUser(user: SlackUser): void;
  addUsergroup(group: SlackUsergroup): void;
  addChannel(channel: AddChannelInput): SlackChannel;
  /** Answers the next `times` calls of `method` with HTTP 429, `Retry-After` and `{ok:false, error:'ratelimited'}`. */
  rateLimit(rule: { method: string; times: number; retryAfterSeconds: number }): void;
  /** Answers the next `times` (default 1) calls of `method` with `{ok:false, error}`. */
  failNext(rule: { method: string; error: string; times?: number }): void;
  stats(): SlackStats;
  waitFor<T>(fn: () => T | undefined | null | false, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

const CHANNEL_NAME_MAX = 80;
const TOPIC_MAX = 250;
const TEXT_MAX = 40_000;
const PAGE_DEFAULT = 100;
const PAGE_MAX = 1000;
const JSON_VALUED_ARGS = ['blocks', 'attachments', 'metadata', 'view'] as const;
/** https://docs.slack.dev/reference/methods/views.open: a trigger_id "expires in 3 seconds" and is exchanged once. */
const TRIGGER_TTL_MS = 3000;

/** A Slack platform error: HTTP 200 with `{ ok: false, error }`. */
class SlackApiError extends Error {
  readonly error: string;
  readonly extra: Record<string, unknown>;

  constructor(error: string, extra: Record<string, unknown> = {}) {
    super(error);
    this.error = error;
    this.extra = extra;
  }
}

function missingArgument(name: string): SlackApiError {
  return new SlackApiError('invalid_arguments', {
    response_metadata: { messages: [`[ERROR] missing required field: ${name}`] },
  });
}

/** Typed access to method arguments that may arrive as strings (form) or native values (JSON). */
class SlackArgs {
  constructor(private readonly raw: Record<string, unknown>) {}

  string(name: string): string | undefined {
    const value = this.raw[name];
    if (value === undefined || value === null || value === '') return undefined;
    return typeof value === 'string' ? value : String(value);
  }

  required(name: string, error?: string): string {
    const value = this.string(name);
    if (value === undefined) throw error === undefined ? missingArgument(name) : new SlackApiError(error);
    return value;
  }

  flag(name: string): boolean {
    const value = this.raw[name];
    return value === true || value === 1 || value === 'true' || value === '1';
  }

  int(name: string, fallback: number): number {
    const parsed = Number.parseInt(this.string(name) ?? '', 10);
    return Number.isNaN(parsed) ? fallback : parsed;
  }

  /**
   * A view for views.open/update/publish: decoded from JSON by readArgs, then checked against the
   * view limits (https://docs.slack.dev/reference/surfaces/views); Slack answers invalid_arguments.
   */
  view(): Record<string, unknown> {
    const value = this.raw.view;
    if (value === undefined || value === null || value === '') throw missingArgument('view');
    if (typeof value !== 'object' || Array.isArray(value)) throw new SlackApiError('invalid_arguments');
    const errors = viewErrors(value);
    if (errors.length > 0) {
      throw new SlackApiError('invalid_arguments', {
        errors,
        response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) },
      });
    }
    return value as Record<string, unknown>;
  }

  /** `blocks` were decoded from JSON by readArgs; a string left here was not valid JSON. */
  blocks(): unknown[] | undefined {
    const value = this.raw.blocks;
    if (value === undefined || value === null || value === '') return undefined;
    if (!Array.isArray(value)) throw new SlackApiError('invalid_blocks_format');
    // Any block over a Block Kit limit refuses the whole message, with Slack's json-pointer messages.
    const errors = blockErrors(value);
    if (errors.length > 0) {
      throw new SlackApiError('invalid_blocks', {
        errors,
        response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) },
      });
    }
    return value;
  }
}

function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

interface ChannelRecord {
  id: string;
  name: string;
  is_private: boolean;
  is_archived: boolean;
  topic: { value: string; creator: string; last_set: number };
  purpose: { value: string; creator: string; last_set: number };
  members: Set<string>;
  created: number;
  creator: string;
}

interface Page<T> {
  items: T[];
  nextCursor: string;
}

function encodeCursor(offset: number): string {
  return Buffer.from(`next:${offset}`).toString('base64');
}

function paginate<T>(all: T[], args: SlackArgs): Page<T> {
  const limit = Math.min(Math.max(args.int('limit', PAGE_DEFAULT) || PAGE_DEFAULT, 1), PAGE_MAX);
  const cursor = args.string('cursor');
  let offset = 0;
  if (cursor !== undefined) {
    const match = /^next:(\d+)$/.exec(Buffer.from(cursor, 'base64').toString('utf8'));
    if (!match) throw new SlackApiError('invalid_cursor');
    offset = Number(match[1]);
  }
  const items = all.slice(offset, offset + limit);
  const nextCursor = offset + limit < all.length ? encodeCursor(offset + limit) : '';
  return { items, nextCursor };
}

function randomId(prefix: string, length = 10): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const bytes = randomBytes(length);
  return prefix + Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Slack's own rule: lowercase letters, digits, hyphens and underscores, at most 80 characters. */
function validateChannelName(name: string | undefined): string {
  if (name === undefined) throw new SlackApiError('invalid_name_required');
  if (name.length > CHANNEL_NAME_MAX) throw new SlackApiError('invalid_name_maxlength');
  if (!/^[a-z0-9_-]+$/.test(name)) throw new SlackApiError('invalid_name_specials');
  if (/^[-_]+$/.test(name)) throw new SlackApiError('invalid_name_punctuation');
  return name;
}

/** Counts the most events inside any half-open window [t, t + windowMs). */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let left = 0;
  for (let right = 0; right < sorted.length; right++) {
    while ((sorted[right] ?? 0) - (sorted[left] ?? 0) >= windowMs) left++;
    best = Math.max(best, right - left + 1);
  }
  return best;
}

type MethodHandler = (args: SlackArgs) => Record<string, unknown>;

/** Workspace state and the Web API methods that read and change it. */
class SlackWorkspace {
  readonly channelsById = new Map<string, ChannelRecord>();
  readonly users = new Map<string, SlackUser>();
  readonly usergroups = new Map<string, SlackUsergroup>();
  readonly messages: SlackMessage[] = [];
  readonly ephemerals: SlackEphemeral[] = [];
  readonly triggers = new Map<string, { issuedAt: number; user: string | undefined; used: boolean }>();
  readonly views = new Map<string, SlackView>();
  private lastTsMicros = 0;

  constructor(private readonly botScopes: readonly string[] | undefined = undefined) {
    this.users.set(SLACK_FAKE_BOT.userId, {
      id: SLACK_FAKE_BOT.userId,
      name: SLACK_FAKE_BOT.name,
      real_name: SLACK_FAKE_BOT.name,
      is_bot: true,
    });
  }

  readonly handlers: Readonly<Record<string, MethodHandler>> = {
    'auth.test': () => this.authTest(),
    'chat.postMessage': (a) => this.postMessage(a),
    'chat.update': (a) => this.updateMessage(a),
    'chat.postEphemeral': (a) => this.postEphemeral(a),
    'users.info': (a) => this.usersInfo(a),
    'usergroups.list': (a) => this.usergroupsList(a),
    'usergroups.users.list': (a) => this.usergroupUsers(a),
    'conversations.create': (a) => this.createChannel(a),
    'conversations.invite': (a) => this.invite(a),
    'conversations.setTopic': (a) => this.setTopic(a),
    'conversations.archive': (a) => this.setArchived(a, true),
    'conversations.unarchive': (a) => this.setArchived(a, false),
    'conversations.info': (a) => ({ channel: this.channelView(this.channel(a.string('channel'))) }),
    'conversations.members': (a) => this.members(a),
    'conversations.join': (a) => this.join(a),
    'conversations.list': (a) => this.list(a),
    'views.open': (a) => this.openView(a),
    'views.update': (a) => this.updateView(a),
    'views.publish': (a) => this.publishView(a),
  };

  /**
   * https://docs.slack.dev/reference/methods/views.open: the trigger_id must be one Slack issued
   * (invalid_trigger_id), at most 3 s old (expired_trigger_id), and not exchanged before
   * (exchanged_trigger_id); only a modal opens this way.
   */
  private openView(args: SlackArgs): Record<string, unknown> {
    const triggerId = args.required('trigger_id');
    const trigger = this.triggers.get(triggerId);
    if (!trigger) throw new SlackApiError('invalid_trigger_id');
    if (Date.now() - trigger.issuedAt > TRIGGER_TTL_MS) throw new SlackApiError('expired_trigger_id');
    if (trigger.used) throw new SlackApiError('exchanged_trigger_id');
    const view = args.view();
    if (view.type !== 'modal') throw new SlackApiError('invalid_arguments');
    trigger.used = true;
    const record: SlackView = {
      id: this.newViewId(),
      type: 'modal',
      user: trigger.user,
      hash: this.newViewHash(),
      view,
      versions: [view],
    };
    this.views.set(record.id, record);
    return { view: this.viewView(record) };
  }

  /**
   * https://docs.slack.dev/reference/methods/views.update: by view_id (or external_id); not_found
   * for an unknown view, hash_conflict when `hash` is given and the view changed since.
   */
  private updateView(args: SlackArgs): Record<string, unknown> {
    const id = args.string('view_id');
    const externalId = args.string('external_id');
    if (id === undefined && externalId === undefined) throw missingArgument('view_id');
    const record =
      id !== undefined
        ? this.views.get(id)
        : [...this.views.values()].find((v) => v.view.external_id === externalId);
    if (!record) throw new SlackApiError('not_found');
    const hash = args.string('hash');
    if (hash !== undefined && hash !== record.hash) throw new SlackApiError('hash_conflict');
    const view = args.view();
    if (view.type !== record.type) throw new SlackApiError('invalid_arguments');
    record.view = view;
    record.versions.push(view);
    record.hash = this.newViewHash();
    return { view: this.viewView(record) };
  }

  /**
   * https://docs.slack.dev/reference/methods/views.publish: a `home` view for `user_id`, replacing
   * the one shown; hash_conflict when `hash` is given and stale.
   */
  private publishView(args: SlackArgs): Record<string, unknown> {
    const user = args.required('user_id');
    const view = args.view();
    if (view.type !== 'home') throw new SlackApiError('invalid_arguments');
    const existing = [...this.views.values()].find((v) => v.type === 'home' && v.user === user);
    const hash = args.string('hash');
    if (hash !== undefined && existing && hash !== existing.hash) throw new SlackApiError('hash_conflict');
    const record: SlackView = existing ?? {
      id: this.newViewId(),
      type: 'home',
      user,
      hash: '',
      view,
      versions: [],
    };
    record.view = view;
    record.versions.push(view);
    record.hash = this.newViewHash();
    this.views.set(record.id, record);
    return { view: this.viewView(record) };
  }

  /** The view object Slack answers with (https://docs.slack.dev/reference/surfaces/views). */
  viewView(v: SlackView): Record<string, unknown> {
    return {
      ...v.view,
      id: v.id,
      team_id: SLACK_FAKE_TEAM.id,
      state: { values: {} },
      hash: v.hash,
      root_view_id: v.id,
      previous_view_id: null,
      app_id: SLACK_FAKE_BOT.appId,
      bot_id: SLACK_FAKE_BOT.botId,
    };
  }

  private newViewId(): string {
    let id = randomId('V');
    while (this.views.has(id)) id = randomId('V');
    return id;
  }

  private newViewHash(): string {
    return `${nowSeconds()}.${randomBytes(4).toString('hex')}`;
  }

  /** Unique, increasing message timestamps in Slack's `seconds.micros` form. */
  nextTs(): string {
    const micros = Math.max(Date.now() * 1000, this.lastTsMicros + 1);
    this.lastTsMicros = micros;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }

  addChannel(input: AddChannelInput, creator: string = SLACK_FAKE_BOT.userId): ChannelRecord {
    const id = input.id ?? this.newChannelId();
    const now = nowSeconds();
    const record: ChannelRecord = {
      id,
      name: input.name,
      is_private: input.is_private ?? false,
      is_archived: input.is_archived ?? false,
      topic: { value: '', creator: '', last_set: 0 },
      purpose: { value: '', creator: '', last_set: 0 },
      members: new Set(input.members ?? [creator]),
      created: now,
      creator,
    };
    this.channelsById.set(id, record);
    return record;
  }

  private newChannelId(): string {
    let id = randomId('C');
    while (this.channelsById.has(id)) id = randomId('C');
    return id;
  }

  /** Known if registered, found by name (with or without '#'), or shaped like a channel id (C/G/D…). */
  findChannel(ref: string | undefined): ChannelRecord | undefined {
    if (ref === undefined) return undefined;
    const byId = this.channelsById.get(ref);
    if (byId) return byId;
    const name = ref.startsWith('#') ? ref.slice(1) : ref;
    const byName = [...this.channelsById.values()].find((c) => c.name === name);
    if (byName) return byName;
    if (/^[CGD][A-Z0-9]{2,}$/.test(ref)) return this.addChannel({ id: ref, name: ref.toLowerCase() });
    return undefined;
  }

  private channel(ref: string | undefined): ChannelRecord {
    const found = this.findChannel(ref);
    if (!found) throw new SlackApiError('channel_not_found');
    return found;
  }

  private writableChannel(ref: string | undefined): ChannelRecord {
    const found = this.channel(ref);
    if (found.is_archived) throw new SlackApiError('is_archived');
    return found;
  }

  channelView(c: ChannelRecord): Record<string, unknown> {
    return {
      id: c.id,
      name: c.name,
      name_normalized: c.name,
      is_channel: !c.id.startsWith('D'),
      is_group: false,
      is_im: c.id.startsWith('D'),
      is_mpim: false,
      is_private: c.is_private,
      is_archived: c.is_archived,
      is_general: false,
      is_shared: false,
      is_member: c.members.has(SLACK_FAKE_BOT.userId),
      created: c.created,
      creator: c.creator,
      context_team_id: SLACK_FAKE_TEAM.id,
      topic: { ...c.topic },
      purpose: { ...c.purpose },
      num_members: c.members.size,
    };
  }

  private authTest(): Record<string, unknown> {
    return {
      url: `https://${SLACK_FAKE_TEAM.domain}.slack.com/`,
      team: SLACK_FAKE_TEAM.name,
      user: SLACK_FAKE_BOT.name,
      team_id: SLACK_FAKE_TEAM.id,
      user_id: SLACK_FAKE_BOT.userId,
      bot_id: SLACK_FAKE_BOT.botId,
      is_enterprise_install: false,
    };
  }

  private content(args: SlackArgs): { text: string | undefined; blocks: unknown[] | undefined } {
    const text = args.string('text');
    const blocks = args.blocks();
    const attachments = args.string('attachments');
    if (text === undefined && blocks === undefined && attachments === undefined)
      throw new SlackApiError('no_text');
    // https://docs.slack.dev/reference/methods/chat.postMessage: msg_too_long past 40,000 characters.
    if (text !== undefined && characters(text) > TEXT_MAX) throw new SlackApiError('msg_too_long');
    return { text, blocks };
  }

  private messageView(m: SlackMessage): Record<string, unknown> {
    return {
      type: 'message',
      user: m.user,
      bot_id: SLACK_FAKE_BOT.botId,
      app_id: SLACK_FAKE_BOT.appId,
      team: SLACK_FAKE_TEAM.id,
      ts: m.ts,
      text: m.text ?? '',
      ...(m.blocks === undefined ? {} : { blocks: m.blocks }),
      ...(m.thread_ts === undefined ? {} : { thread_ts: m.thread_ts }),
    };
  }

  private postMessage(args: SlackArgs): Record<string, unknown> {
    const channel = this.writableChannel(args.string('channel'));
    const { text, blocks } = this.content(args);
    const ts = this.nextTs();
    const message: SlackMessage = {
      channel: channel.id,
      ts,
      thread_ts: args.string('thread_ts'),
      user: SLACK_FAKE_BOT.userId,
      text,
      blocks,
      versions: [{ text, blocks, at: Date.now() }],
    };
    this.messages.push(message);
    return { channel: channel.id, ts, message: this.messageView(message) };
  }

  private updateMessage(args: SlackArgs): Record<string, unknown> {
    const channel = this.writableChannel(args.string('channel'));
    const ts = args.required('ts', 'message_not_found');
    const message = this.messages.find((m) => m.channel === channel.id && m.ts === ts);
    if (!message) throw new SlackApiError('message_not_found');
    const { text, blocks } = this.content(args);
    message.text = text;
    message.blocks = blocks;
    message.versions.push({ text, blocks, at: Date.now() });
    return { channel: channel.id, ts, text: text ?? '', message: this.messageView(message) };
  }

  private postEphemeral(args: SlackArgs): Record<string, unknown> {
    const channel = this.writableChannel(args.string('channel'));
    const user = args.required('user');
    const { text, blocks } = this.content(args);
    const message_ts = this.nextTs();
    this.ephemerals.push({
      channel: channel.id,
      user,
      text,
      blocks,
      thread_ts: args.string('thread_ts'),
      message_ts,
      at: Date.now(),
    });
    return { message_ts };
  }

  private userView(u: SlackUser): Record<string, unknown> {
    const realName = u.real_name ?? u.name;
    const displayName = u.display_name ?? '';
    return {
      id: u.id,
      team_id: SLACK_FAKE_TEAM.id,
      name: u.name,
      deleted: u.deleted ?? false,
      real_name: realName,
      tz: 'Europe/London',
      is_admin: false,
      is_owner: false,
      is_bot: u.is_bot ?? false,
      is_app_user: false,
      profile: {
        real_name: realName,
        real_name_normalized: realName,
        display_name: displayName,
        display_name_normalized: displayName,
        team: SLACK_FAKE_TEAM.id,
      },
    };
  }

  private hasScope(scope: string): boolean {
    return this.botScopes === undefined || this.botScopes.includes(scope);
  }

  private usersInfo(args: SlackArgs): Record<string, unknown> {
    // https://docs.slack.dev/reference/methods/users.info: needs users:read (else missing_scope),
    // and "the email field … requires the users:read.email scope" to be present in the profile.
    if (!this.hasScope('users:read'))
      throw new SlackApiError('missing_scope', {
        needed: 'users:read',
        provided: (this.botScopes ?? []).join(','),
      });
    const user = this.users.get(args.string('user') ?? '');
    if (!user) throw new SlackApiError('user_not_found');
    const view = this.userView(user);
    if (user.email !== undefined && this.hasScope('users:read.email'))
      (view.profile as Record<string, unknown>).email = user.email;
    return { user: view };
  }

  private usergroupView(g: SlackUsergroup, includeUsers: boolean): Record<string, unknown> {
    return {
      id: g.id,
      team_id: SLACK_FAKE_TEAM.id,
      is_usergroup: true,
      is_external: false,
      name: g.name,
      handle: g.handle,
      description: '',
      date_create: 0,
      date_update: 0,
      date_delete: 0,
      user_count: g.users.length,
      ...(includeUsers ? { users: [...g.users] } : {}),
    };
  }

  private usergroupsList(args: SlackArgs): Record<string, unknown> {
    const includeUsers = args.flag('include_users');
    return { usergroups: [...this.usergroups.values()].map((g) => this.usergroupView(g, includeUsers)) };
  }

  private usergroupUsers(args: SlackArgs): Record<string, unknown> {
    const group = this.usergroups.get(args.string('usergroup') ?? '');
    if (!group) throw new SlackApiError('no_such_subteam');
    return { users: [...group.users] };
  }

  private createChannel(args: SlackArgs): Record<string, unknown> {
    const name = validateChannelName(args.string('name'));
    if ([...this.channelsById.values()].some((c) => c.name === name)) throw new SlackApiError('name_taken');
    const record = this.addChannel({ name, is_private: args.flag('is_private') });
    return { channel: this.channelView(record) };
  }

  private invite(args: SlackArgs): Record<string, unknown> {
    const channel = this.writableChannel(args.string('channel'));
    const ids = (args.string('users') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (ids.length === 0) throw new SlackApiError('no_user');
    if (ids.includes(SLACK_FAKE_BOT.userId)) throw new SlackApiError('cant_invite_self');
    if (ids.some((id) => !this.users.has(id))) throw new SlackApiError('user_not_found');
    if (ids.every((id) => channel.members.has(id))) throw new SlackApiError('already_in_channel');
    for (const id of ids) channel.members.add(id);
    return { channel: this.channelView(channel) };
  }

  private setTopic(args: SlackArgs): Record<string, unknown> {
    const channel = this.writableChannel(args.string('channel'));
    const topic = args.string('topic') ?? '';
    if (characters(topic) > TOPIC_MAX) throw new SlackApiError('too_long');
    channel.topic = { value: topic, creator: SLACK_FAKE_BOT.userId, last_set: nowSeconds() };
    return { channel: this.channelView(channel) };
  }

  private setArchived(args: SlackArgs, archived: boolean): Record<string, unknown> {
    const channel = this.channel(args.string('channel'));
    if (channel.is_archived === archived)
      throw new SlackApiError(archived ? 'already_archived' : 'not_archived');
    channel.is_archived = archived;
    return {};
  }

  private members(args: SlackArgs): Record<string, unknown> {
    const channel = this.channel(args.string('channel'));
    const page = paginate([...channel.members], args);
    return { members: page.items, response_metadata: { next_cursor: page.nextCursor } };
  }

  private join(args: SlackArgs): Record<string, unknown> {
    const channel = this.writableChannel(args.string('channel'));
    if (channel.members.has(SLACK_FAKE_BOT.userId)) {
      return {
        channel: this.channelView(channel),
        warning: 'already_in_channel',
        response_metadata: { warnings: ['already_in_channel'] },
      };
    }
    channel.members.add(SLACK_FAKE_BOT.userId);
    return { channel: this.channelView(channel) };
  }

  private list(args: SlackArgs): Record<string, unknown> {
    const types = new Set((args.string('types') ?? 'public_channel').split(',').map((t) => t.trim()));
    const excludeArchived = args.flag('exclude_archived');
    const matching = [...this.channelsById.values()].filter(
      (c) => types.has(channelType(c)) && !(excludeArchived && c.is_archived),
    );
    const page = paginate(matching, args);
    return {
      channels: page.items.map((c) => this.channelView(c)),
      response_metadata: { next_cursor: page.nextCursor },
    };
  }
}

function toChannel(c: ChannelRecord): SlackChannel {
  return {
    id: c.id,
    name: c.name,
    is_private: c.is_private,
    is_archived: c.is_archived,
    topic: c.topic.value,
    members: [...c.members],
    created: c.created,
    creator: c.creator,
  };
}

function channelType(c: ChannelRecord): string {
  if (c.id.startsWith('D')) return 'im';
  return c.is_private ? 'private_channel' : 'public_channel';
}

interface TimedCall {
  method: string;
  channel: string | undefined;
  at: number;
}

/** The optional per-method limits, counted over calls that got past the limiter. */
class Limiter {
  private readonly accepted: TimedCall[] = [];

  constructor(private readonly limits: SlackLimits) {}

  /** Seconds to wait if this call would exceed a configured limit, else undefined. */
  check(method: string, channel: string | undefined, at: number): number | undefined {
    const limit = this.limits[method];
    if (!limit) return undefined;
    const sameMethod = this.accepted.filter((c) => c.method === method);
    const perMinute = this.exceeded(sameMethod, limit.perMinute, 60_000, at);
    const sameChannel = sameMethod.filter((c) => c.channel === channel);
    const perSecond =
      channel === undefined ? undefined : this.exceeded(sameChannel, limit.perChannelPerSecond, 1000, at);
    if (perMinute === undefined && perSecond === undefined) return undefined;
    return Math.max(perMinute ?? 0, perSecond ?? 0);
  }

  record(method: string, channel: string | undefined, at: number): void {
    this.accepted.push({ method, channel, at });
  }

  private exceeded(
    calls: TimedCall[],
    max: number | undefined,
    windowMs: number,
    at: number,
  ): number | undefined {
    if (max === undefined) return undefined;
    const inWindow = calls.filter((c) => at - c.at < windowMs);
    if (inWindow.length < max) return undefined;
    const oldest = Math.min(...inWindow.map((c) => c.at));
    return Math.max(1, Math.ceil((oldest + windowMs - at) / 1000));
  }
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return match?.[1];
}

/** Form bodies carry JSON-valued args (blocks, attachments) as strings; JSON bodies carry them natively. */
async function readArgs(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req);
  const query = Object.fromEntries(new URL(req.url ?? '/', 'http://fake').searchParams);
  const args: Record<string, unknown> = { ...query, ...parseBody(req.headers['content-type'], raw) };
  for (const name of JSON_VALUED_ARGS) {
    const value = args[name];
    const parsed = typeof value === 'string' ? tryParseJson(value) : undefined;
    if (parsed !== undefined) args[name] = parsed;
  }
  return args;
}

export async function startSlackFake(options: StartSlackFakeOptions = {}): Promise<SlackFake> {
  const botToken = options.botToken ?? 'xoxb-test';
  const socket = options.appToken ? await startSlackSocketServer(SLACK_FAKE_BOT.appId) : undefined;
  const workspace = new SlackWorkspace(options.botScopes);
  const limiter = new Limiter(options.limits ?? {});
  const calls: SlackCall[] = [];
  const responses: SlackResponseUrlPost[] = [];
  const rateLimits = new Map<string, { remaining: number; retryAfterSeconds: number }>();
  const failures = new Map<string, { remaining: number; error: string }>();

  const takeRateLimit = (method: string): number | undefined => {
    const rule = rateLimits.get(method);
    if (!rule || rule.remaining <= 0) return undefined;
    rule.remaining--;
    return rule.retryAfterSeconds;
  };

  const takeFailure = (method: string): string | undefined => {
    const rule = failures.get(method);
    if (!rule || rule.remaining <= 0) return undefined;
    rule.remaining--;
    return rule.error;
  };

  const answer = (
    method: string,
    args: Record<string, unknown>,
    token: string | undefined,
    at: number,
  ): Answer => {
    // https://docs.slack.dev/reference/methods/apps.connections.open: app-level tokens only, and
    // they are good for nothing else (not_allowed_token_type either way).
    const appToken = options.appToken;
    if (method === 'apps.connections.open') {
      if (token === undefined) return { status: 200, body: { ok: false, error: 'not_authed' } };
      if (token === botToken) return { status: 200, body: { ok: false, error: 'not_allowed_token_type' } };
      if (!socket || token !== appToken) return { status: 200, body: { ok: false, error: 'invalid_auth' } };
      return { status: 200, body: { ok: true, url: socket.openUrl() } };
    }
    if (appToken !== undefined && token === appToken)
      return { status: 200, body: { ok: false, error: 'not_allowed_token_type' } };
    const handler = workspace.handlers[method];
    if (!handler) return { status: 200, body: { ok: false, error: 'unknown_method', req_method: method } };
    if (token === undefined) return { status: 200, body: { ok: false, error: 'not_authed' } };
    if (token !== botToken) return { status: 200, body: { ok: false, error: 'invalid_auth' } };
    const channel = typeof args.channel === 'string' ? args.channel : undefined;
    const retryAfter = takeRateLimit(method) ?? limiter.check(method, channel, at);
    if (retryAfter !== undefined) {
      return {
        status: 429,
        body: { ok: false, error: 'ratelimited' },
        headers: { 'retry-after': String(retryAfter) },
      };
    }
    limiter.record(method, channel, at);
    const injected = takeFailure(method);
    if (injected !== undefined) return { status: 200, body: { ok: false, error: injected } };
    try {
      return { status: 200, body: { ok: true, ...handler(new SlackArgs(args)) } };
    } catch (err) {
      if (!(err instanceof SlackApiError)) throw err;
      return { status: 200, body: { ok: false, error: err.error, ...err.extra } };
    }
  };

  const handleApi = async (req: IncomingMessage, res: ServerResponse, method: string): Promise<void> => {
    const { token: bodyToken, ...args } = await readArgs(req);
    const token =
      bearerToken(req.headers.authorization) ?? (typeof bodyToken === 'string' ? bodyToken : undefined);
    const at = Date.now();
    const result = answer(method, args, token, at);
    calls.push({ method, args, at, status: result.status });
    sendJson(res, result.status, result.body, result.headers);
  };

  const handleResponseUrl = async (req: IncomingMessage, res: ServerResponse, id: string): Promise<void> => {
    const text = (await readBody(req)).toString('utf8');
    const isForm = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    const body = isForm ? parseJson(parseUrlencoded(text).payload ?? '{}') : parseJson(text);
    responses.push({ id, body, at: Date.now() });
    sendText(res, 200, 'ok', { 'content-type': 'text/html' });
  };

  const server = await startServer(
    async (req, res) => {
      const path = new URL(req.url ?? '/', 'http://fake').pathname;
      const api = /^\/api\/([\w.]+)$/.exec(path);
      if (api?.[1]) return handleApi(req, res, api[1]);
      const response = /^\/response\/([\w-]+)$/.exec(path);
      if (response?.[1] && req.method === 'POST') return handleResponseUrl(req, res, response[1]);
      throw new HttpError(404, { ok: false, error: 'not_found' });
    },
    { ...(options.host === undefined ? {} : { host: options.host }), port: options.port ?? 0 },
  );

  return {
    url: `${server.url}/api/`,
    socket,
    calls,
    ephemerals: workspace.ephemerals,
    responses,
    messages: (channelId) =>
      channelId === undefined
        ? [...workspace.messages]
        : workspace.messages.filter((m) => m.channel === channelId),
    triggerId: (user) => {
      const id = `${Date.now()}.${randomBytes(5).readUInt32BE()}.${randomBytes(16).toString('hex')}`;
      workspace.triggers.set(id, { issuedAt: Date.now(), user, used: false });
      return id;
    },
    views: () => [...workspace.views.values()],
    home: (user) => [...workspace.views.values()].find((v) => v.type === 'home' && v.user === user),
    responseUrl: (id = randomBytes(8).toString('hex')) => `${server.url}/response/${id}`,
    channels: () => [...workspace.channelsById.values()].map(toChannel),
    addUser: (user) => {
      workspace.users.set(user.id, { ...user });
    },
    addUsergroup: (group) => {
      workspace.usergroups.set(group.id, { ...group, users: [...group.users] });
    },
    addChannel: (input) => toChannel(workspace.addChannel(input)),
    rateLimit: ({ method, times, retryAfterSeconds }) => {
      rateLimits.set(method, { remaining: times, retryAfterSeconds });
    },
    failNext: ({ method, error, times = 1 }) => {
      failures.set(method, { remaining: times, error });
    },
    stats: () => computeStats(calls),
    waitFor: (fn, timeoutMs = 5000) => pollUntil(fn, timeoutMs),
    close: async () => {
      await Promise.all([server.close(), socket?.close()]);
    },
  };
}

function computeStats(calls: readonly SlackCall[]): SlackStats {
  const byMethod = new Map<string, number[]>();
  const byChannel = new Map<string, number[]>();
  for (const call of calls) {
    append(byMethod, call.method, call.at);
    const channel = call.args.channel;
    if (
      (call.method === 'chat.postMessage' || call.method === 'chat.update') &&
      typeof channel === 'string'
    ) {
      append(byChannel, channel, call.at);
    }
  }
  const perMethod: Record<string, number> = {};
  const maxPerMinute: Record<string, number> = {};
  for (const [method, times] of byMethod) {
    perMethod[method] = times.length;
    maxPerMinute[method] = maxInWindow(times, 60_000);
  }
  const perChannel = [...byChannel.values()].map((times) => maxInWindow(times, 1000));
  return { perMethod, maxPerMinute, maxPerChannelPerSecond: Math.max(0, ...perChannel) };
}

function append(map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
