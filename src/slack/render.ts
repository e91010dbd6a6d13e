import type { KnownBlock } from '@slack/web-api';
import type { Message } from '../core/message.js';

const MAX_SECTION = 2900; // Slack refuses section text over 3000 characters.

function clip(text: string): string {
  return text.length > MAX_SECTION ? `${text.slice(0, MAX_SECTION)}…` : text;
}

/** Block Kit for a neutral message: a section of lines, fields, a row of buttons, a context line. */
export function toBlocks(message: Message): KnownBlock[] {
  const blocks: KnownBlock[] = [];
  const body = message.lines?.length ? message.lines.join('\n') : message.text;
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(body) } });
  if (message.fields?.length) {
    for (let i = 0; i < message.fields.length; i += 10) {
      blocks.push({
        type: 'section',
        fields: message.fields
          .slice(i, i + 10)
          .map(([label, value]) => ({ type: 'mrkdwn', text: clip(`*${label}*\n${value}`) })),
      });
    }
  }
  if (message.buttons?.length) {
    blocks.push({
      type: 'actions',
      elements: message.buttons.slice(0, 25).map((b) => ({
        type: 'button',
        action_id: b.action,
        text: { type: 'plain_text', text: b.label.slice(0, 75) },
        value: b.value,
        ...(b.style ? { style: b.style } : {}),
      })),
    });
  }
  if (message.context?.length) {
    blocks.push({
      type: 'context',
      elements: message.context.map((c) => ({ type: 'mrkdwn', text: clip(c) })),
    });
  }
  return blocks;
}
