import { type Message, message } from '../core/message.js';
import { PreviewName } from '../core/preview.js';
import type { Ack, CommandRequest } from './accept-command.js';
import type { Person } from './command-job.js';

/** A click on a preview warning's Extend button; the value is the preview's name, nothing more. */
export interface PreviewExtendClick {
  name: string;
  user: Person;
  channelId: string;
  deliveryId: string;
}

/**
 * Turns the click into `/ops env extend <name>` by the clicker, so the same checks apply as when
 * typed: env.extend in the ack, ownership (or env.close-any) in the job, and the audit record.
 */
export async function extendFromClick(
  accept: (request: CommandRequest) => Promise<Ack>,
  click: PreviewExtendClick,
): Promise<Message> {
  const name = PreviewName.safeParse(click.name);
  if (!name.success) return message('That Extend button does not name a preview environment.');
  const ack = await accept({
    text: `env extend ${name.data}`,
    requester: click.user,
    channel: { id: click.channelId },
    deliveryId: `preview-extend/${click.deliveryId}`,
  });
  return ack.message;
}
