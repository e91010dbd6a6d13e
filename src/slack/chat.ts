import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { ExternalServiceError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import type { Chat, Directory } from '../ports.js';
import { fitText, toBlocks } from './render.js';

/** Default hard maximum age of cached user-group memberships (OPSBOT_GROUPS_MAX_AGE). */
export const GROUPS_MAX_AGE_MS = 5 * 60_000;
/** Memberships are refreshed in the background once they are this old (or half the maximum age). */
const GROUPS_REFRESH_AFTER_MS = 60_000;
/** How long a command waits for a refresh of memberships that are too old to use. */
const GROUPS_WAIT_MS = 1_500;
export const GROUPS_UNAVAILABLE =
  'your Slack user groups could not be checked just now, so roles granted through a user group do not apply; try again in a minute';

export interface SlackChatOptions {
  /** Past this age memberships are not used: without a fresh list, group-granted roles are dropped. */
  groupsMaxAgeMs?: number;
  now?: () => number;
}

/** Slack errors that mean "not now" rather than "never": worth the queue's retry. */
const TRANSIENT_SLACK_ERRORS = new Set([
  'ratelimited',
  'fatal_error',
  'internal_error',
  'service_unavailable',
  'request_timeout',
]);

/** A Web API failure as our error; `reason` is Slack's error code (name_taken, invalid_blocks…). */
export function slackError(err: unknown, method: string): ExternalServiceError {
  const data = (err as { data?: { error?: string } }).data;
  const code = (err as { code?: string }).code;
  // Platform errors (channel_not_found, not_in_channel…) will not fix themselves; transport errors
  // and Slack's own trouble may.
  const retryable =
    code !== 'slack_webapi_platform_error' ||
    typeof data?.error !== 'string' ||
    TRANSIENT_SLACK_ERRORS.has(data.error);
  // Slack explains a refusal (invalid_blocks…) in response_metadata.messages: keep that for the logs.
  const messages = (err as { data?: { response_metadata?: { messages?: unknown } } }).data?.response_metadata
    ?.messages;
  const detail = Array.isArray(messages) && messages.length ? ` (${messages.join('; ')})` : '';
  return new ExternalServiceError(
    'slack',
    `Slack ${method} failed: ${data?.error ?? code ?? 'error'}${detail}`,
    {
      retryable,
      cause: err,
      ...(data?.error ? { reason: data.error } : {}),
    },
  );
}

/**
 * Chat and Directory over the Slack Web API. The WebClient already waits out 429s with
 * Retry-After; we add caching of names and user groups so the ack path stays fast.
 */
export class SlackChat implements Chat, Directory {
  private readonly names = new Map<string, string>();
  private readonly emails = new Map<string, string>();
  private groups: { loadedAt: number; byUser: Map<string, Set<string>> } | undefined;
  private loadingGroups: { since: number; done: Promise<void> } | undefined;
  private readonly groupsMaxAgeMs: number;
  private readonly now: () => number;

  constructor(
    private readonly client: WebClient,
    private readonly log: Logger,
    options: SlackChatOptions = {},
  ) {
    this.groupsMaxAgeMs = options.groupsMaxAgeMs ?? GROUPS_MAX_AGE_MS;
    this.now = options.now ?? Date.now;
  }

  async post(channel: string, message: Message): Promise<{ ts: string }> {
    try {
      const res = await this.client.chat.postMessage({
        channel,
        text: fitText(message.text),
        blocks: toBlocks(message),
      });
      return { ts: String(res.ts) };
    } catch (err) {
      throw slackError(err, 'chat.postMessage');
    }
  }

  async update(channel: string, ts: string, message: Message): Promise<void> {
    try {
      await this.client.chat.update({ channel, ts, text: fitText(message.text), blocks: toBlocks(message) });
    } catch (err) {
      throw slackError(err, 'chat.update');
    }
  }

  async postEphemeral(channel: string, user: string, message: Message): Promise<void> {
    try {
      await this.client.chat.postEphemeral({
        channel,
        user,
        text: fitText(message.text),
        blocks: toBlocks(message),
      });
    } catch (err) {
      throw slackError(err, 'chat.postEphemeral');
    }
  }

  async userName(userId: string): Promise<string | undefined> {
    const cached = this.names.get(userId);
    if (cached) return cached;
    try {
      const res = await this.client.users.info({ user: userId });
      const name = res.user?.name ?? res.user?.profile?.display_name;
      if (name) this.names.set(userId, name);
      return name;
    } catch (err) {
      this.log.warn({ err: slackError(err, 'users.info'), userId }, 'could not resolve user name');
      return undefined;
    }
  }

  /** Slack shows profile.email only to a token with users:read.email; without it, undefined. */
  async emailOf(userId: string): Promise<string | undefined> {
    const cached = this.emails.get(userId);
    if (cached) return cached;
    try {
      const res = await this.client.users.info({ user: userId });
      const email = res.user?.profile?.email;
      if (email) this.emails.set(userId, email);
      return email;
    } catch (err) {
      this.log.warn({ err: slackError(err, 'users.info'), userId }, 'could not read the email of a user');
      return undefined;
    }
  }

  private groupsFresh(): boolean {
    return this.groups !== undefined && this.now() - this.groups.loadedAt <= this.groupsMaxAgeMs;
  }

  /**
   * Memberships are refreshed in the background while they are young enough to use. Past the maximum
   * age the command waits briefly for a refresh, and without one the user counts as in no group:
   * a role granted through a user group fails closed (see groupsUnavailable).
   */
  async groupsOf(userId: string): Promise<ReadonlySet<string>> {
    const age = this.groups ? this.now() - this.groups.loadedAt : Number.POSITIVE_INFINITY;
    if (age > Math.min(GROUPS_REFRESH_AFTER_MS, this.groupsMaxAgeMs / 2)) {
      void this.refreshGroups();
      if (!this.groupsFresh() && this.loadingGroups) {
        const { since, done } = this.loadingGroups;
        // Commands wait only within 1.5 s of the refresh starting, not for as long as it hangs.
        const wait = Math.max(0, since + GROUPS_WAIT_MS - this.now());
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([done, new Promise((r) => (timer = setTimeout(r, wait)))]);
        clearTimeout(timer);
      }
      if (!this.groupsFresh()) return new Set();
    }
    return this.groups?.byUser.get(userId) ?? new Set();
  }

  /** Why memberships cannot be trusted right now, for the denial a user sees; undefined when they can. */
  groupsUnavailable(): string | undefined {
    return this.groupsFresh() ? undefined : GROUPS_UNAVAILABLE;
  }

  /** Loads every user group with its members in one call; concurrent callers share the request. */
  refreshGroups(): Promise<void> {
    if (this.loadingGroups) return this.loadingGroups.done;
    const done = (async () => {
      // Yield first, so loadingGroups is set before this can finish, even on a synchronous throw.
      await Promise.resolve();
      try {
        const res = await this.client.usergroups.list({ include_users: true });
        const byUser = new Map<string, Set<string>>();
        for (const group of res.usergroups ?? []) {
          if (!group.handle) continue;
          const users =
            group.users ??
            (await this.client.usergroups.users.list({ usergroup: group.id ?? '' })).users ??
            [];
          for (const user of users) {
            const set = byUser.get(user) ?? new Set<string>();
            set.add(group.handle);
            byUser.set(user, set);
          }
        }
        this.groups = { loadedAt: this.now(), byUser };
      } catch (err) {
        // The old list stays in use until it reaches the maximum age; after that, groups match nobody.
        this.log.warn(
          {
            err: slackError(err, 'usergroups.list'),
            ageMs: this.groups ? this.now() - this.groups.loadedAt : null,
            maxAgeMs: this.groupsMaxAgeMs,
          },
          'could not load user groups',
        );
      } finally {
        this.loadingGroups = undefined;
      }
    })();
    this.loadingGroups = { since: this.now(), done };
    return done;
  }

  async ping(): Promise<void> {
    try {
      await this.client.auth.test();
    } catch (err) {
      throw slackError(err, 'auth.test');
    }
  }
}
