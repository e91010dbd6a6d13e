import type { RequestListener } from 'node:http';
import { App, HTTPReceiver, type Receiver, SocketModeReceiver } from '@slack/bolt';
import type { Logger } from 'pino';
import type { Env } from '../config/env.js';
import { message } from '../core/message.js';
import type { Ack, CommandRequest } from '../engine/accept-command.js';
import type { ButtonClick, ButtonRoute } from '../engine/buttons.js';
import { boltLogger } from './bolt-logger.js';
import { slackEventsGate } from './events-gate.js';
import type { HomeTab } from './home.js';
import { MODAL_ACTIONS, MODAL_CALLBACK, type OpsModal } from './ops-modal.js';
import { fitText, toBlocks } from './render.js';
import { claimOf, workspaceRefusal } from './workspace.js';

const ACK_BUDGET_MS = 2_500;

export interface SlackAppOptions {
  env: Env & { SLACK_BOT_TOKEN: string };
  log: Logger;
  accept(request: CommandRequest): Promise<Ack>;
  /** Every button the bot answers (approvals, and the features' own), routed by action id. */
  buttons: readonly ButtonRoute[];
  /** `/ops` with nothing after it opens this modal instead of the help text. */
  modal?: OpsModal;
  /** The App Home tab, published when the user opens it. */
  home?: HomeTab;
  /** A request refused for its signature, e.g. to audit a forged approval click. */
  onRejected?(rawBody: Buffer): void;
}

export interface SlackApp {
  app: App;
  /** Present in HTTP mode: mount it on POST /slack/events. */
  listener?: RequestListener;
  mode: 'http' | 'socket';
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Never let Slack see a timeout: past the budget, answer with an error the user can act on. */
function withinBudget<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/**
 * Bolt in HTTP mode (signature-verified POST /slack/events) or Socket Mode when SLACK_APP_TOKEN
 * is set. Receivers only move bytes; every decision is made in the engine.
 */
export function createSlackApp(options: SlackAppOptions): SlackApp {
  const { env, log } = options;
  const logger = boltLogger(log.child({ component: 'bolt' }));
  const clientOptions = { slackApiUrl: env.SLACK_API_URL };
  const socket = env.SLACK_APP_TOKEN !== undefined;
  let receiver: Receiver;
  let http: HTTPReceiver | undefined;
  if (socket) {
    receiver = new SocketModeReceiver({
      appToken: env.SLACK_APP_TOKEN as string,
      logger,
      installerOptions: { clientOptions },
    });
  } else {
    http = new HTTPReceiver({
      signingSecret: env.SLACK_SIGNING_SECRET as string,
      endpoints: '/slack/events',
      logger,
      processBeforeResponse: false,
    });
    receiver = http;
  }
  const botToken = env.SLACK_BOT_TOKEN;
  const app = new App({
    receiver,
    logger,
    clientOptions,
    // A fixed token needs no auth.test per request; readiness checks the token instead.
    authorize: async () => ({ botToken }),
    // Bolt's conversation store keeps per-conversation state with a timer each; opsbot keeps its
    // state in Redis and never reads it, and under load it was a tenth of the ack path's CPU.
    convoStore: false,
  });

  // Socket Mode has no signature gate in front: the same workspace check runs here, for both modes.
  const workspace = { teamId: env.SLACK_TEAM_ID, appId: env.SLACK_APP_ID };
  if (workspace.teamId || workspace.appId) {
    app.use(async (args) => {
      const claim = claimOf(args.body);
      const refused = workspaceRefusal(workspace, claim);
      if (!refused) return args.next();
      log.warn(
        { field: refused, teamId: claim.teamId, appId: claim.appId, user: claim.userId },
        'refused a signed Slack request for another workspace or app',
      );
      // Acknowledged, so Slack does not redeliver it; nothing else is done.
      await (args as { ack?: () => Promise<void> }).ack?.();
    });
  }

  app.command('/ops', async ({ command, ack, client, respond }) => {
    const modal = options.modal;
    if (modal && (command.text ?? '').trim() === '') {
      // The trigger_id is good for 3 s: acknowledged first, the modal opens right after.
      await ack();
      const channel = {
        id: command.channel_id,
        ...(command.channel_name ? { name: command.channel_name } : {}),
      };
      try {
        await modal.open(client, command.trigger_id, command.user_id, channel);
      } catch (err) {
        log.warn({ err, user: command.user_id }, 'could not open the /ops modal; answering with help');
        const help = await options.accept({
          text: '',
          requester: { id: command.user_id },
          channel,
          deliveryId: command.trigger_id,
        });
        await respond({
          response_type: 'ephemeral',
          text: fitText(help.message.text),
          blocks: toBlocks(help.message),
        });
      }
      return;
    }
    const request: CommandRequest = {
      text: command.text ?? '',
      requester: { id: command.user_id, ...(command.user_name ? { name: command.user_name } : {}) },
      channel: { id: command.channel_id, ...(command.channel_name ? { name: command.channel_name } : {}) },
      deliveryId:
        command.trigger_id || `${command.team_id}/${command.user_id}/${command.channel_id}/${command.text}`,
    };
    let reply = message('');
    try {
      reply = (await withinBudget(options.accept(request), ACK_BUDGET_MS)).message;
    } catch (err) {
      log.error({ err, user: command.user_id }, 'could not accept command');
      reply = message(
        'opsbot could not confirm this request in time (its queue is slow or unavailable). If it was accepted, its outcome will appear here; check before you try again.',
      );
    }
    await ack({ response_type: 'ephemeral', text: fitText(reply.text), blocks: toBlocks(reply) });
  });

  /**
   * Every button click: acknowledged at once, then handled with only what Slack signed (who
   * clicked, where, which action, the opaque value); the answer goes back ephemerally.
   */
  for (const route of options.buttons) {
    app.action(route.action, async ({ ack, body, action, client }) => {
      await ack();
      if (body.type !== 'block_actions' || action.type !== 'button' || !('action_id' in action)) return;
      const click: ButtonClick = {
        actionId: action.action_id,
        value: action.value ?? '',
        user: { id: body.user.id, ...(body.user.username ? { name: body.user.username } : {}) },
        channelId: body.channel?.id ?? body.container?.channel_id ?? '',
        channelName: body.channel?.name,
        deliveryId: `${body.trigger_id}/${action.action_ts}`,
      };
      try {
        const reply = await route.handle(click);
        if (reply && click.channelId) {
          await client.chat.postEphemeral({
            channel: click.channelId,
            user: click.user.id,
            text: fitText(reply.text),
            blocks: toBlocks(reply),
          });
        }
      } catch (err) {
        log.error({ err, action: click.actionId, user: click.user.id }, 'could not handle a button click');
      }
    });
  }

  const modal = options.modal;
  if (modal) {
    for (const actionId of Object.values(MODAL_ACTIONS)) {
      app.action({ action_id: actionId, type: 'block_actions' }, async ({ ack, body, client }) => {
        await ack();
        if (body.type !== 'block_actions' || !body.view) return;
        try {
          await modal.step(client, body.user.id, body.view);
        } catch (err) {
          log.warn({ err, user: body.user.id, action: actionId }, 'could not update the /ops modal');
        }
      });
    }
    // External selects: deployments and revisions, asked from the cluster as the user types.
    app.options<'block_suggestion'>({ type: 'block_suggestion' }, async ({ ack, body }) => {
      try {
        const options = await withinBudget(
          modal.suggest(body.user.id, body.action_id, body.value ?? '', body.view),
          ACK_BUDGET_MS,
        );
        await ack({ options });
      } catch (err) {
        log.warn({ err, user: body.user.id, action: body.action_id }, 'could not list modal options');
        await ack({ options: [] });
      }
    });
    app.view(MODAL_CALLBACK, async ({ ack, body, view, client }) => {
      let result: Awaited<ReturnType<OpsModal['submit']>>;
      try {
        result = await withinBudget(modal.submit(body.user.id, body.user.name, view), ACK_BUDGET_MS);
      } catch (err) {
        log.error({ err, user: body.user.id }, 'could not accept a modal submission');
        await ack({
          response_action: 'errors',
          errors: {
            'ops.action':
              'opsbot could not confirm this request in time. Check the channel before you try again.',
          },
        });
        return;
      }
      if ('errors' in result) {
        await ack({ response_action: 'errors', errors: result.errors });
        return;
      }
      // Closes the modal; what the ack says goes to the channel /ops was typed in, as a typed command's would.
      await ack();
      try {
        await client.chat.postEphemeral({
          channel: result.channel,
          user: body.user.id,
          text: fitText(result.ack.message.text),
          blocks: toBlocks(result.ack.message),
        });
      } catch (err) {
        log.warn({ err, user: body.user.id }, 'could not post the answer to a modal submission');
      }
    });
  }

  const home = options.home;
  if (home) {
    app.event('app_home_opened', async ({ event }) => {
      if (event.tab !== 'home') return;
      try {
        await home.opened(event.user);
      } catch (err) {
        log.warn({ err, user: event.user }, 'could not publish the Home tab');
      }
    });
  }

  app.error(async (err) => {
    log.error({ err }, 'unhandled Slack error');
  });

  return {
    app,
    ...(http
      ? {
          listener: slackEventsGate({
            signingSecret: env.SLACK_SIGNING_SECRET as string,
            next: http.requestListener,
            log,
            workspace,
            ...(options.onRejected ? { onRejected: options.onRejected } : {}),
          }),
        }
      : {}),
    mode: socket ? 'socket' : 'http',
    async start() {
      // HTTP mode is served by our own server; only Socket Mode opens a connection here.
      if (socket) await app.start();
    },
    async stop() {
      if (socket) await app.stop();
    },
  };
}
