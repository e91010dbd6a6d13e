import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Message } from '../core/message.js';
import { readBody } from '../http/body.js';
import type { ShellChat } from './shell.js';

/** The bot's own user in the stand-in: what auth.test answers, and the creator of its channels. */
const BOT_USER = 'UOPSBOT';

interface StandInChannel {
  id: string;
  name: string;
  created: number;
  archived: boolean;
}

type Params = Record<string, unknown>;
type Answer = Record<string, unknown>;

/** Block Kit elements as the stand-in reads them back: only the fields opsbot's renderer writes. */
interface BlockIn {
  type?: string;
  text?: { text?: string };
  fields?: { text?: string }[];
  elements?: { type?: string; text?: string | { text?: string }; action_id?: string; value?: string }[];
}

/** What opsbot's Block Kit renderer (src/slack/render.ts) made of a message, read back for the terminal. */
export function messageFromBlocks(text: string, blocks: unknown): Message {
  if (!Array.isArray(blocks)) return { text };
  const lines: string[] = [];
  const fields: [string, string][] = [];
  const buttons: NonNullable<Message['buttons']> = [];
  const context: string[] = [];
  for (const block of blocks as BlockIn[]) {
    if ((block.type === 'section' || block.type === 'header') && block.text?.text)
      lines.push(...block.text.text.split('\n'));
    for (const field of block.fields ?? []) {
      const [label = '', ...value] = (field.text ?? '').split('\n');
      fields.push([label.replace(/^\*(.*)\*$/, '$1'), value.join('\n')]);
    }
    for (const element of block.elements ?? []) {
      if (block.type === 'actions' && element.type === 'button' && element.action_id) {
        const label = typeof element.text === 'object' ? (element.text.text ?? '') : '';
        buttons.push({ label, action: element.action_id, value: element.value ?? '' });
      }
      if (block.type === 'context' && typeof element.text === 'string') context.push(element.text);
    }
  }
  return { text, lines, fields, buttons, context };
}

/**
 * The Slack Web API methods incidents use (conversations.*, chat.postMessage/update, auth.test,
 * usergroups.list), served on loopback for local mode: channels are made here and every message is
 * printed in the terminal, so an incident can be followed without a Slack workspace. Answers have
 * Slack's shape (`ok`, `error`), so the incident code runs exactly as against Slack.
 */
export class SlackStandIn {
  private readonly channels = new Map<string, StandInChannel>();
  private server: Server | undefined;
  url = '';

  constructor(private readonly chat: ShellChat) {}

  async start(): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0] ?? '';
    let answer: Answer;
    try {
      const raw = (await readBody(req)).toString('utf8');
      answer = await this.call(method, parseParams(raw, req.headers['content-type']));
    } catch (err) {
      answer = { ok: false, error: 'internal_error', detail: (err as Error).message };
    }
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(answer));
  }

  private channel(params: Params): StandInChannel | undefined {
    return this.channels.get(String(params.channel ?? ''));
  }

  private async call(method: string, params: Params): Promise<Answer> {
    switch (method) {
      case 'auth.test':
        return { ok: true, user_id: BOT_USER, team_id: 'TLOCAL', team: 'local', user: 'opsbot' };
      case 'usergroups.list':
        return { ok: true, usergroups: [] };
      case 'conversations.list':
        return {
          ok: true,
          channels: [...this.channels.values()].map((c) => ({
            id: c.id,
            name: c.name,
            created: c.created,
            creator: BOT_USER,
            is_archived: c.archived,
          })),
          response_metadata: { next_cursor: '' },
        };
      case 'conversations.create': {
        // https://api.slack.com/methods/conversations.create: a name in use answers name_taken.
        const name = String(params.name ?? '');
        if ([...this.channels.values()].some((c) => c.name === name))
          return { ok: false, error: 'name_taken' };
        const channel = {
          id: `CLOCAL${String(this.channels.size + 1).padStart(4, '0')}`,
          name,
          created: Math.floor(Date.now() / 1000),
          archived: false,
        };
        this.channels.set(channel.id, channel);
        this.chat.channels.set(channel.id, name);
        this.chat.print(
          `\n🆕 #${name} was created (incident channel; in Slack, responders are invited to it)`,
        );
        return { ok: true, channel: { id: channel.id, name, created: channel.created, creator: BOT_USER } };
      }
      case 'conversations.setTopic': {
        const channel = this.channel(params);
        if (!channel) return { ok: false, error: 'channel_not_found' };
        this.chat.print(`#${channel.name} topic: ${String(params.topic ?? '')}`);
        return { ok: true };
      }
      case 'conversations.invite': {
        const channel = this.channel(params);
        if (!channel) return { ok: false, error: 'channel_not_found' };
        const users = String(params.users ?? '')
          .split(',')
          .filter(Boolean);
        const names = await Promise.all(users.map(async (u) => `@${(await this.chat.userName(u)) ?? u}`));
        this.chat.print(`#${channel.name}: invited ${names.join(', ')}`);
        return { ok: true, channel: { id: channel.id } };
      }
      case 'conversations.archive':
      case 'conversations.unarchive': {
        const channel = this.channel(params);
        if (!channel) return { ok: false, error: 'channel_not_found' };
        const archive = method === 'conversations.archive';
        // https://api.slack.com/methods/conversations.archive (already_archived) and .unarchive (not_archived).
        if (channel.archived === archive)
          return { ok: false, error: archive ? 'already_archived' : 'not_archived' };
        channel.archived = archive;
        this.chat.print(`#${channel.name} was ${archive ? 'archived' : 'unarchived'}`);
        return { ok: true };
      }
      case 'chat.postMessage': {
        const channel = this.channel(params);
        if (!channel) return { ok: false, error: 'channel_not_found' };
        const { ts } = await this.chat.post(
          channel.id,
          messageFromBlocks(String(params.text ?? ''), params.blocks),
        );
        return { ok: true, channel: channel.id, ts };
      }
      case 'chat.update': {
        const channel = this.channel(params);
        if (!channel) return { ok: false, error: 'channel_not_found' };
        const ts = String(params.ts ?? '');
        await this.chat.update(channel.id, ts, messageFromBlocks(String(params.text ?? ''), params.blocks));
        return { ok: true, channel: channel.id, ts };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }
}

/** Slack clients send form fields (objects as JSON strings) or a JSON body. */
function parseParams(raw: string, contentType: string | undefined): Params {
  if ((contentType ?? '').includes('application/json')) return raw ? (JSON.parse(raw) as Params) : {};
  const params: Params = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    // Only structured fields are JSON; text that happens to start with "[" stays text.
    params[key] = key === 'blocks' || key === 'attachments' ? safeJson(value) : value;
  }
  return params;
}

function safeJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
