import type { Message } from '../core/message.js';

const EMOJI: Record<string, string> = {
  hourglass: '⏳',
  hourglass_flowing_sand: '⏳',
  rewind: '⏪',
  white_check_mark: '✅',
  x: '❌',
  warning: '⚠️',
  no_entry: '⛔',
  no_entry_sign: '🚫',
  inbox_tray: '📥',
  arrows_counterclockwise: '🔄',
  straight_ruler: '📏',
  bar_chart: '📊',
  scroll: '📜',
  lock: '🔒',
  alarm_clock: '⏰',
  arrow_forward: '▶️',
  card_index: '📇',
  double_vertical_bar: '⏸️',
  fire: '🔥',
  grey_question: '❔',
  heavy_minus_sign: '➖',
  large_green_circle: '🟢',
  mag: '🔍',
  repeat: '🔁',
  rocket: '🚀',
  rotating_light: '🚨',
  wastebasket: '🗑️',
  white_circle: '⚪',
};

/** Slack mrkdwn to plain terminal text: emoji codes, *bold*, `code`, <@U123> mentions and escapes. */
export function mrkdwnToText(text: string): string {
  return text
    .replace(/:([a-z_]+):/g, (whole, name: string) => EMOJI[name] ?? whole)
    .replace(/<@([A-Z0-9]+)>/g, '@$1')
    .replace(/<#([A-Z0-9]+)(?:\|([^>]*))?>/g, (_whole, id: string, name?: string) => `#${name || id}`)
    .replace(/<([^<>|\s]+)\|([^<>]+)>/g, '$2 ($1)')
    .replace(/\*([^*\n]+)\*/g, '$1')
    .replace(/`([^`\n]+)`/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** A message as the terminal shows it: body, fields, buttons as commands to type, small print. */
export function renderText(message: Message): string {
  const out: string[] = [];
  const body = message.lines?.length ? message.lines : [message.text];
  out.push(...body.map(mrkdwnToText));
  for (const [label, value] of message.fields ?? []) {
    const [first = '', ...rest] = mrkdwnToText(value).split('\n');
    out.push(`  ${label}: ${first}`, ...rest.map((r) => `    ${r}`));
  }
  for (const button of message.buttons ?? []) {
    out.push(`  [${button.label}]  type: /click ${button.action} ${button.value}`);
  }
  for (const line of message.context ?? []) out.push(`  (${mrkdwnToText(line)})`);
  return out.join('\n');
}
