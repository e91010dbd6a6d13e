import type { Person } from '../core/command-job.js';
import type { Message } from '../core/message.js';

/**
 * A button click as every transport gives it (Slack's signed block_actions, a /click in the local
 * shell): only who clicked, where, which action and the opaque value. Nothing else is trusted.
 */
export interface ButtonClick {
  actionId: string;
  value: string;
  user: Person;
  channelId: string;
  channelName?: string | undefined;
  /** Identifies this delivery, so a redelivered click is answered once. */
  deliveryId: string;
}

/** A button handler: an action id (or pattern) and what a click does; its answer goes back to the clicker. */
export interface ButtonRoute {
  action: string | RegExp;
  handle(click: ButtonClick): Promise<Message | undefined>;
}

/** The handler for a click, or undefined when no route takes that action id. */
export function routeFor(routes: readonly ButtonRoute[], actionId: string): ButtonRoute | undefined {
  return routes.find((r) => (typeof r.action === 'string' ? r.action === actionId : r.action.test(actionId)));
}
