import type {
  ActionsBlock,
  ActionsBlockElement,
  ContextBlock,
  KnownBlock,
  SectionBlock,
  TextObject,
} from '@slack/web-api';
import type { Message } from '../core/message.js';

/**
 * Slack's limits for a message's blocks, in characters as Slack counts them: Unicode code points
 * (its own python-slack-sdk validates with len()). Past one, Slack refuses the whole message with
 * `invalid_blocks`. Sources: https://docs.slack.dev/reference/block-kit/blocks (50 blocks) and the
 * section, header, context and actions block, button element and text object pages;
 * https://docs.slack.dev/reference/methods/chat.postMessage for the 40,000-character text.
 */
export const SLACK_LIMITS = {
  blocks: 50,
  textObject: 3_000,
  sectionText: 3_000,
  fields: 10,
  fieldText: 2_000,
  headerText: 150,
  contextElements: 10,
  actionsElements: 25,
  buttonText: 75,
  buttonValue: 2_000,
  messageText: 40_000,
} as const;

const ELLIPSIS = '…';
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
/** Segmenting is slow on long emoji-heavy text, so only this many UTF-16 units before a cut are looked at. */
const GRAPHEME_WINDOW = 64;

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function isLowSurrogate(text: string, index: number): boolean {
  const unit = text.charCodeAt(index);
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/**
 * At most `max` characters: cut between graphemes (never inside an emoji or a surrogate pair) and
 * before a half-open `<link|label>` or `&entity;`, ending in "…" when anything was cut.
 */
export function clipText(text: string, max: number): string {
  // UTF-16 length is never below the code-point count, so short text needs no counting.
  if (text.length <= max) return text;
  let cut = 0;
  for (let n = 0; n < max - 1 && cut < text.length; n++) cut += (text.codePointAt(cut) ?? 0) > 0xffff ? 2 : 1;
  const rest = text.length - cut;
  if (rest === 0 || (rest === 2 && isLowSurrogate(text, cut + 1)) || rest === 1) return text;
  // Back to the start of the grapheme the cut falls in.
  let from = Math.max(0, cut - GRAPHEME_WINDOW);
  if (from > 0 && isLowSurrogate(text, from)) from--;
  let boundary = from;
  for (const { index } of graphemes.segment(text.slice(from, cut + 16))) {
    if (from + index > cut) break;
    boundary = from + index;
  }
  let kept = text.slice(0, boundary);
  const open = kept.lastIndexOf('<');
  if (open > kept.lastIndexOf('>')) kept = kept.slice(0, open);
  const entity = /&#?[a-zA-Z0-9]{0,8}$/.exec(kept);
  if (entity) kept = kept.slice(0, entity.index);
  return `${kept}${ELLIPSIS}`;
}

/** Message text (the notification and fallback) within Slack's 40,000 characters. */
export function fitText(text: string): string {
  return clipText(text, SLACK_LIMITS.messageText);
}

function fitTextObject<T extends TextObject>(object: T, max: number): T | undefined {
  const text = clipText(object.text, Math.min(max, SLACK_LIMITS.textObject));
  return text ? { ...object, text } : undefined;
}

function present<T>(value: T | undefined): value is T {
  return value !== undefined;
}

function fitSection(block: SectionBlock): KnownBlock[] {
  const { text: body, fields: all, ...rest } = block;
  const text = body && fitTextObject(body, SLACK_LIMITS.sectionText);
  const fields = (all ?? [])
    .slice(0, SLACK_LIMITS.fields)
    .map((f) => fitTextObject(f, SLACK_LIMITS.fieldText))
    .filter(present);
  // Empty text is refused too ("must be more than 0 characters"): an empty section is left out.
  if (!text && fields.length === 0) return [];
  return [{ ...rest, ...(text ? { text } : {}), ...(fields.length ? { fields } : {}) }];
}

function fitContext(block: ContextBlock): KnownBlock[] {
  const elements = block.elements
    .map((e) => (e.type === 'image' ? e : fitTextObject(e, SLACK_LIMITS.textObject)))
    .filter(present)
    .slice(0, SLACK_LIMITS.contextElements);
  return elements.length ? [{ ...block, elements }] : [];
}

function fitActions(block: ActionsBlock): KnownBlock[] {
  const elements = block.elements
    .flatMap((e): ActionsBlockElement[] => {
      if (e.type !== 'button') return [e];
      // A value is an opaque reference: shortening it would point the button elsewhere, so it goes.
      if (e.value !== undefined && codePoints(e.value) > SLACK_LIMITS.buttonValue) return [];
      const text = fitTextObject(e.text, SLACK_LIMITS.buttonText);
      if (!text) return [];
      // An empty value is refused ("must be more than 0 characters"); a button without one is fine.
      const { value, ...button } = e;
      return [{ ...button, text, ...(value ? { value } : {}) }];
    })
    .slice(0, SLACK_LIMITS.actionsElements);
  return elements.length ? [{ ...block, elements }] : [];
}

function fitBlock(block: KnownBlock): KnownBlock[] {
  switch (block.type) {
    case 'section':
      return fitSection(block);
    case 'header': {
      const text = fitTextObject(block.text, SLACK_LIMITS.headerText);
      return text ? [{ ...block, text }] : [];
    }
    case 'context':
      return fitContext(block);
    case 'actions':
      return fitActions(block);
    default:
      return [block];
  }
}

/** Any blocks, clipped to Slack's limits after rendering; what had to go is said in a last line. */
export function fitBlocks(blocks: readonly KnownBlock[]): KnownBlock[] {
  const fitted = blocks.flatMap(fitBlock);
  if (fitted.length <= SLACK_LIMITS.blocks) return fitted;
  const kept = fitted.slice(0, SLACK_LIMITS.blocks - 1);
  const left = fitted.length - kept.length;
  kept.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `${ELLIPSIS} ${left} more not shown` }] });
  return kept;
}

/** Block Kit for a neutral message: a section of lines, fields, a row of buttons, a context line. */
function render(message: Message): KnownBlock[] {
  const blocks: KnownBlock[] = [];
  const body = message.lines?.length ? message.lines.join('\n') : message.text;
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: body } });
  if (message.fields?.length) {
    for (let i = 0; i < message.fields.length; i += SLACK_LIMITS.fields) {
      blocks.push({
        type: 'section',
        fields: message.fields
          .slice(i, i + SLACK_LIMITS.fields)
          .map(([label, value]) => ({ type: 'mrkdwn', text: `*${label}*\n${value}` })),
      });
    }
  }
  if (message.buttons?.length) {
    blocks.push({
      type: 'actions',
      elements: message.buttons.map((b) => ({
        type: 'button',
        action_id: b.action,
        text: { type: 'plain_text', text: b.label },
        value: b.value,
        ...(b.style ? { style: b.style } : {}),
      })),
    });
  }
  if (message.context?.length) {
    blocks.push({
      type: 'context',
      elements: message.context.map((c) => ({ type: 'mrkdwn', text: c })),
    });
  }
  return blocks;
}

/** The one renderer of messages to Block Kit: rendered, then clipped to fit what Slack accepts. */
export function toBlocks(message: Message): KnownBlock[] {
  return fitBlocks(render(message));
}
