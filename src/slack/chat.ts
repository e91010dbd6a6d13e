import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { ExternalServiceError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import type { Chat, Directory } from '../ports.js';
import { fitText, toBlocks } from './render.js';

const GROUPS_TTL_MS = 5 * 60_000;

function slackError(err: unknown, method: string): ExternalServiceError {
  const data = (err as { data?: { error?: string } }).data;
  const code = (err as { code?: string }).code;
  // Platform errors (channel_not_found, not_in_channel…) will not fix themselves; transport errors may.
  const retryable = code !== 'slack_webapi_platform_error';
  return new ExternalServiceError('slack', `Slack ${method} failed: ${data?.error ?? code ?? 'error'}`, {
    retryable,
    cause: err,
  });
}

/**
 * Chat and Directory over the Slack Web API. The WebClient already waits out 429s with
 * Retry-After; we add caching of names and user groups so the ack path stays fast.
 */
export class SlackChat implements Chat, Directory {
  private readonly names = new Map<string, string>();
  private groups: { loadedAt: number; byUser: Map<string, Set<string>> } | undefined;
  private loadingGroups: Promise<void> | undefined;

  constructor(
    private readonly client: WebClient,
    private readonly log: Logger,
  ) {}

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

  async groupsOf(userId: string): Promise<ReadonlySet<string>> {
    const stale = !this.groups || Date.now() - this.groups.loadedAt > GROUPS_TTL_MS;
    if (stale) {
      const loading = this.refreshGroups();
      // Only the very first load is awaited; later refreshes happen behind the cached answer.
      if (!this.groups) await loading;
    }
    return this.groups?.byUser.get(userId) ?? new Set();
  }

  /** Loads every user group with its members in one call; concurrent callers share the request. */
  refreshGroups(): Promise<void> {
    this.loadingGroups ??= (async () => {
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
        this.groups = { loadedAt: Date.now(), byUser };
      } catch (err) {
        this.log.warn(
          { err: slackError(err, 'usergroups.list') },
          'could not load user groups; group-based roles match nobody',
        );
        this.groups ??= { loadedAt: Date.now(), byUser: new Map() };
      } finally {
        this.loadingGroups = undefined;
      }
    })();
    return this.loadingGroups;
  }

  async ping(): Promise<void> {
    try {
      await this.client.auth.test();
    } catch (err) {
      throw slackError(err, 'auth.test');
    }
  }
}
