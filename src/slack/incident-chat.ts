import type { WebClient } from '@slack/web-api';
import type { Message } from '../core/message.js';
import type { IncidentChat } from '../ports.js';
import { slackError } from './chat.js';
import { clipText, fitText, toBlocks } from './render.js';

/** conversations.setTopic refuses topics over 250 characters (too_long). */
const TOPIC_MAX = 250;

/** Slack's own error code of a failed call, when Slack answered one. */
function errorCode(err: unknown): string | undefined {
  const data = (err as { data?: { error?: unknown } }).data;
  return typeof data?.error === 'string' ? data.error : undefined;
}

/** Incident channels over the Slack Web API; each Slack error becomes an ExternalServiceError. */
export class SlackIncidentChat implements IncidentChat {
  private botUserId: string | undefined;

  constructor(private readonly client: WebClient) {}

  private async call<T>(method: string, work: () => Promise<T>, harmless?: string): Promise<T | undefined> {
    try {
      return await work();
    } catch (err) {
      if (harmless !== undefined && errorCode(err) === harmless) return undefined;
      throw slackError(err, method);
    }
  }

  async createChannel(name: string): Promise<{ id: string } | { taken: true }> {
    try {
      const created = await this.client.conversations.create({ name });
      const id = created.channel?.id;
      if (!id) throw new Error('conversations.create answered no channel id');
      return { id };
    } catch (err) {
      if (errorCode(err) === 'name_taken') return { taken: true };
      throw slackError(err, 'conversations.create');
    }
  }

  async findOwnChannel(name: string, since: number): Promise<string | undefined> {
    return this.call('conversations.list', async () => {
      this.botUserId ??= (await this.client.auth.test()).user_id;
      for await (const page of this.client.paginate('conversations.list', {
        types: 'public_channel,private_channel',
        exclude_archived: false,
        limit: 200,
      })) {
        const channels = (
          page as { channels?: { id?: string; name?: string; creator?: string; created?: number }[] }
        ).channels;
        const found = channels?.find((c) => c.name === name);
        // Slack's `created` is in whole seconds; a second of slack covers that rounding.
        const madeSince = (found?.created ?? 0) * 1000 >= since - 1000;
        if (found) return found.creator === this.botUserId && madeSince ? found.id : undefined;
      }
      return undefined;
    });
  }

  async setTopic(channel: string, topic: string): Promise<void> {
    await this.call('conversations.setTopic', () =>
      this.client.conversations.setTopic({ channel, topic: clipText(topic, TOPIC_MAX) }),
    );
  }

  async usersOfGroups(handles: readonly string[]): Promise<string[]> {
    const groups = await this.call('usergroups.list', () =>
      this.client.usergroups.list({ include_users: true }),
    );
    const users: string[] = [];
    for (const g of groups?.usergroups ?? []) {
      if (g.handle && handles.includes(g.handle)) users.push(...(g.users ?? []));
    }
    return users;
  }

  async invite(channel: string, users: readonly string[]): Promise<void> {
    await this.call(
      'conversations.invite',
      () => this.client.conversations.invite({ channel, users: users.join(',') }),
      'already_in_channel',
    );
  }

  async archive(channel: string): Promise<void> {
    await this.call(
      'conversations.archive',
      () => this.client.conversations.archive({ channel }),
      'already_archived',
    );
  }

  async unarchive(channel: string): Promise<void> {
    await this.call(
      'conversations.unarchive',
      () => this.client.conversations.unarchive({ channel }),
      'not_archived',
    );
  }

  async post(channel: string, message: Message): Promise<{ ts: string }> {
    const res = await this.call('chat.postMessage', () =>
      this.client.chat.postMessage({ channel, text: fitText(message.text), blocks: toBlocks(message) }),
    );
    return { ts: String(res?.ts ?? '') };
  }

  async postText(channel: string, text: string): Promise<{ ts: string }> {
    const res = await this.call('chat.postMessage', () =>
      this.client.chat.postMessage({ channel, text: fitText(text) }),
    );
    return { ts: String(res?.ts ?? '') };
  }

  async update(channel: string, ts: string, message: Message): Promise<void> {
    await this.call('chat.update', () =>
      this.client.chat.update({ channel, ts, text: fitText(message.text), blocks: toBlocks(message) }),
    );
  }
}
