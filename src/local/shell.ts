import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import type { Message } from '../core/message.js';
import type { Ack, CommandRequest } from '../engine/accept-command.js';
import { type ButtonRoute, routeFor } from '../engine/buttons.js';
import type { Chat, Directory } from '../ports.js';
import { AlertmanagerNotifier, parseAlertCommand, sendToWebhook } from './alert-command.js';
import { renderText } from './render-text.js';

export const SHELL_CHANNEL = { id: 'CSHELL', name: 'shell' } as const;

/**
 * Chat for the terminal, in the Hubot shell tradition: what Slack would show in the channel is
 * printed as it happens, updates included, so progress is visible.
 */
export class ShellChat implements Chat, Directory {
  private nextTs = 1;
  readonly names = new Map<string, string>();
  /** Channel names by id: the shell's own, and the incident channels made while it runs. */
  readonly channels = new Map<string, string>([[SHELL_CHANNEL.id, SHELL_CHANNEL.name]]);

  constructor(private readonly out: Writable) {}

  private channelName(id: string): string {
    return this.channels.get(id) ?? id;
  }

  print(text: string): void {
    this.out.write(`${text}\n`);
  }

  async post(channel: string, message: Message): Promise<{ ts: string }> {
    const ts = String(this.nextTs++);
    this.print(`\n#${this.channelName(channel)} [${ts}] ${renderText(message)}`);
    return { ts };
  }

  async update(channel: string, ts: string, message: Message): Promise<void> {
    this.print(`\n#${this.channelName(channel)} [${ts}, updated] ${renderText(message)}`);
  }

  async postEphemeral(_channel: string, _user: string, message: Message): Promise<void> {
    this.print(`(only you) ${renderText(message)}`);
  }

  async userName(userId: string): Promise<string | undefined> {
    return this.names.get(userId);
  }

  async groupsOf(): Promise<ReadonlySet<string>> {
    return new Set();
  }

  async ping(): Promise<void> {}
}

export interface ShellOptions {
  chat: ShellChat;
  input: NodeJS.ReadableStream;
  user: { id: string; name: string };
  accept(request: CommandRequest): Promise<Ack>;
  /** The buttons a /click can press: the same routes Slack's clicks take. */
  buttons: readonly ButtonRoute[];
  banner: string[];
  /** Where /alert posts, and the bearer token it sends; without it, /alert is not offered. */
  alertWebhook?: { url: string; token: string | undefined } | undefined;
}

const HELP = [
  'Type /ops <command> as you would in Slack, e.g. /ops status api --env staging',
  '  /as <user id> [name]   act as someone else (e.g. a second person to approve)',
  '  /click <action> <value>  press a button shown in a message',
  '  /alert <alertname> [label=value …] [--resolve]  send an Alertmanager notification to this bot',
  '  /quit                 leave',
];

/** Reads lines from the terminal and drives the same accept and approval paths Slack does. */
export function runShell(options: ShellOptions): Promise<void> {
  const { chat } = options;
  let user = options.user;
  let seq = 0;
  const notifier = new AlertmanagerNotifier();
  chat.names.set(user.id, user.name);
  for (const line of [...options.banner, ...HELP]) chat.print(line);
  const rl = createInterface({ input: options.input, terminal: false });

  const handle = async (raw: string) => {
    const line = raw.trim();
    if (!line) return;
    const [head = '', ...rest] = line.split(/\s+/);
    if (head === '/quit' || head === '/exit') return rl.close();
    if (head === '/help') return chat.print(HELP.join('\n'));
    if (head === '/as') {
      const [id, name] = rest;
      if (!id) return chat.print(`You are ${user.name} (${user.id}).`);
      user = { id, name: name ?? id.toLowerCase() };
      chat.names.set(user.id, user.name);
      return chat.print(`You are now ${user.name} (${user.id}).`);
    }
    if (head === '/click') {
      const [action = '', value = ''] = rest;
      const route = routeFor(options.buttons, action);
      if (!route) return chat.print(`Unknown button "${action}".`);
      const reply = await route.handle({
        actionId: action,
        value,
        user,
        channelId: SHELL_CHANNEL.id,
        channelName: SHELL_CHANNEL.name,
        deliveryId: `shell-click-${process.pid}-${++seq}`,
      });
      if (reply) await chat.postEphemeral(SHELL_CHANNEL.id, user.id, reply);
      return;
    }
    if (head === '/alert') {
      if (!options.alertWebhook)
        return chat.print('Incidents are not set up here: /alert has nowhere to go.');
      const command = parseAlertCommand(rest);
      if (typeof command === 'string') return chat.print(command);
      const { url, token } = options.alertWebhook;
      const sent = await sendToWebhook(url, notifier.notification(command), token);
      const labels = Object.entries(command.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      return chat.print(
        `Alertmanager → POST ${new URL(url).pathname} (${command.resolve ? 'resolved' : 'firing'}: ${labels}): ${sent.status} ${sent.text}`,
      );
    }
    if (head !== '/ops') return chat.print('Commands start with /ops. Type /help for help.');
    const ack = await options.accept({
      text: line.slice(head.length).trim(),
      requester: user,
      channel: { ...SHELL_CHANNEL },
      deliveryId: `shell-${process.pid}-${Date.now()}-${++seq}`,
    });
    await chat.postEphemeral(SHELL_CHANNEL.id, user.id, ack.message);
  };

  return new Promise((resolve) => {
    let queue = Promise.resolve();
    rl.on('line', (line) => {
      // One line at a time, in order, as a person types them.
      queue = queue
        .then(() => handle(line))
        .catch((err: unknown) => chat.print(`error: ${(err as Error).message}`));
    });
    rl.on('close', () => {
      void queue.then(() => resolve());
    });
  });
}
