/**
 * Slack's Block Kit rules for message blocks, as the Web API enforces them: a message that breaks
 * one is refused with `{ ok: false, error: 'invalid_blocks' }`. Each rule cites its reference page.
 *
 * Lengths are counted in characters as Slack counts them: Unicode code points (Slack's own SDK,
 * python-slack-sdk slack_sdk/models/blocks, validates with Python's len(), which counts code points).
 */

/** https://docs.slack.dev/reference/block-kit/blocks: "up to 50 blocks in each message". */
export const MAX_MESSAGE_BLOCKS = 50;

export function characters(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

type Check = (value: unknown, at: string, errors: string[]) => void;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Slack's wording for a string over its limit, e.g. "must be less than 3001 characters". */
function checkString(value: unknown, at: string, errors: string[], max: number, min = 0): void {
  if (typeof value !== 'string') {
    errors.push(`must be a string [json-pointer:${at}]`);
    return;
  }
  const n = characters(value);
  if (n > max) errors.push(`must be less than ${max + 1} characters [json-pointer:${at}]`);
  if (n < min) errors.push(`must be more than ${min - 1} characters [json-pointer:${at}]`);
}

function checkItems(value: unknown, at: string, errors: string[], max: number, item: Check): void {
  if (!Array.isArray(value)) {
    errors.push(`must provide an array [json-pointer:${at}]`);
    return;
  }
  if (value.length === 0) errors.push(`must provide at least 1 item [json-pointer:${at}]`);
  if (value.length > max) errors.push(`no more than ${max} items allowed [json-pointer:${at}]`);
  value.forEach((v, i) => {
    item(v, `${at}/${i}`, errors);
  });
}

/** https://docs.slack.dev/reference/block-kit/composition-objects/text-object: type plain_text or mrkdwn, text 1-3000 characters. */
function textObject(max = 3000, types: readonly string[] = ['plain_text', 'mrkdwn']): Check {
  return (value, at, errors) => {
    if (!isObject(value)) {
      errors.push(`must provide an object [json-pointer:${at}]`);
      return;
    }
    if (!types.includes(String(value.type)))
      errors.push(`must be one of [${types.join(', ')}] [json-pointer:${at}/type]`);
    checkString(value.text, `${at}/text`, errors, Math.min(max, 3000), 1);
  };
}

/** https://docs.slack.dev/reference/block-kit/block-elements/button-element: text <= 75, action_id <= 255, value <= 2000, url <= 3000. */
const button: Check = (value, at, errors) => {
  if (!isObject(value)) {
    errors.push(`must provide an object [json-pointer:${at}]`);
    return;
  }
  textObject(75, ['plain_text'])(value.text, `${at}/text`, errors);
  if (value.action_id !== undefined) checkString(value.action_id, `${at}/action_id`, errors, 255, 1);
  if (value.value !== undefined) checkString(value.value, `${at}/value`, errors, 2000, 1);
  if (value.url !== undefined) checkString(value.url, `${at}/url`, errors, 3000, 1);
  if (value.style !== undefined && value.style !== 'primary' && value.style !== 'danger')
    errors.push(`must be one of [primary, danger] [json-pointer:${at}/style]`);
};

/** https://docs.slack.dev/reference/block-kit/block-elements/image-element, as a context element: image_url and alt_text required. */
const image: Check = (value, at, errors) => {
  if (!isObject(value)) {
    errors.push(`must provide an object [json-pointer:${at}]`);
    return;
  }
  checkString(value.image_url, `${at}/image_url`, errors, 3000, 1);
  checkString(value.alt_text, `${at}/alt_text`, errors, 2000, 1);
};

const BLOCKS: Record<string, Check> = {
  /** https://docs.slack.dev/reference/block-kit/blocks/section-block: text <= 3000; fields <= 10 items of <= 2000; text or fields. */
  section: (block, at, errors) => {
    const b = block as Record<string, unknown>;
    if (b.text === undefined && b.fields === undefined)
      errors.push(`must provide either text or fields [json-pointer:${at}]`);
    if (b.text !== undefined) textObject(3000)(b.text, `${at}/text`, errors);
    if (b.fields !== undefined) checkItems(b.fields, `${at}/fields`, errors, 10, textObject(2000));
  },
  /** https://docs.slack.dev/reference/block-kit/blocks/header-block: a plain_text text of at most 150 characters. */
  header: (block, at, errors) => {
    textObject(150, ['plain_text'])((block as Record<string, unknown>).text, `${at}/text`, errors);
  },
  /** https://docs.slack.dev/reference/block-kit/blocks/context-block: 1-10 elements, text objects or images. */
  context: (block, at, errors) => {
    checkItems((block as Record<string, unknown>).elements, `${at}/elements`, errors, 10, (e, p, errs) =>
      isObject(e) && e.type === 'image' ? image(e, p, errs) : textObject()(e, p, errs),
    );
  },
  /** https://docs.slack.dev/reference/block-kit/blocks/actions-block: 1-25 interactive elements (opsbot sends buttons). */
  actions: (block, at, errors) => {
    checkItems((block as Record<string, unknown>).elements, `${at}/elements`, errors, 25, (e, p, errs) => {
      if (isObject(e) && e.type === 'button') return button(e, p, errs);
      errs.push(`unsupported element type [json-pointer:${p}]`);
    });
  },
  /** https://docs.slack.dev/reference/block-kit/blocks/divider-block: nothing but the type. */
  divider: () => undefined,
};

/**
 * The errors Slack would answer for a message's blocks, in its own format
 * (`must be less than 3001 characters [json-pointer:/blocks/0/text/text]`); empty when they are valid.
 */
export function blockErrors(blocks: readonly unknown[]): string[] {
  const errors: string[] = [];
  if (blocks.length > MAX_MESSAGE_BLOCKS)
    errors.push(`no more than ${MAX_MESSAGE_BLOCKS} items allowed [json-pointer:/blocks]`);
  blocks.forEach((block, i) => {
    const at = `/blocks/${i}`;
    if (!isObject(block)) {
      errors.push(`must provide an object [json-pointer:${at}]`);
      return;
    }
    const check = BLOCKS[String(block.type)];
    if (!check) {
      errors.push(`unsupported type: ${String(block.type)} [json-pointer:${at}/type]`);
      return;
    }
    if (block.block_id !== undefined) checkString(block.block_id, `${at}/block_id`, errors, 255, 1);
    check(block, at, errors);
  });
  return errors;
}
