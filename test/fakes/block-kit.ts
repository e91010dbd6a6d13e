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

/**
 * https://docs.slack.dev/reference/block-kit/composition-objects/option-object: text (plain_text)
 * at most 75 characters, value at most 150, description at most 75.
 */
const MAX_OPTION_TEXT = 75;
const option: Check = (value, at, errors) => {
  if (!isObject(value)) {
    errors.push(`must provide an object [json-pointer:${at}]`);
    return;
  }
  textObject(MAX_OPTION_TEXT, ['plain_text'])(value.text, `${at}/text`, errors);
  checkString(value.value, `${at}/value`, errors, 150, 1);
  if (value.description !== undefined)
    textObject(MAX_OPTION_TEXT, ['plain_text'])(value.description, `${at}/description`, errors);
};

/** https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element: "Maximum number of options is 100." */
export const MAX_SELECT_OPTIONS = 100;

/** Every interactive element: action_id at most 255 characters, placeholder (plain_text) at most 150. */
function commonElement(value: Record<string, unknown>, at: string, errors: string[]): void {
  if (value.action_id !== undefined) checkString(value.action_id, `${at}/action_id`, errors, 255, 1);
  if (value.placeholder !== undefined)
    textObject(150, ['plain_text'])(value.placeholder, `${at}/placeholder`, errors);
}

const ELEMENTS: Record<string, Check> = {
  button,
  /**
   * https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element#static_select:
   * 1-100 options (or option_groups); initial_option must be one of them.
   */
  static_select: (value, at, errors) => {
    const e = value as Record<string, unknown>;
    commonElement(e, at, errors);
    if (e.options === undefined && e.option_groups === undefined)
      errors.push(`must provide either options or option_groups [json-pointer:${at}]`);
    if (e.options !== undefined) checkItems(e.options, `${at}/options`, errors, MAX_SELECT_OPTIONS, option);
    if (e.initial_option !== undefined) option(e.initial_option, `${at}/initial_option`, errors);
  },
  /**
   * https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element#external_select:
   * options come from the app's block_suggestion answer; min_query_length is a number.
   */
  external_select: (value, at, errors) => {
    const e = value as Record<string, unknown>;
    commonElement(e, at, errors);
    if (e.options !== undefined) errors.push(`options are not allowed here [json-pointer:${at}/options]`);
    if (e.min_query_length !== undefined && !Number.isInteger(e.min_query_length))
      errors.push(`must be an integer [json-pointer:${at}/min_query_length]`);
    if (e.initial_option !== undefined) option(e.initial_option, `${at}/initial_option`, errors);
  },
  /** https://docs.slack.dev/reference/block-kit/block-elements/plain-text-input-element: lengths 0-3000. */
  plain_text_input: (value, at, errors) => {
    const e = value as Record<string, unknown>;
    commonElement(e, at, errors);
    for (const key of ['min_length', 'max_length'] as const) {
      const n = e[key];
      if (n !== undefined && !(Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 3000))
        errors.push(`must be between 0 and 3000 [json-pointer:${at}/${key}]`);
    }
    if (e.initial_value !== undefined) checkString(e.initial_value, `${at}/initial_value`, errors, 3000);
  },
  /**
   * https://docs.slack.dev/reference/block-kit/block-elements/number-input-element: is_decimal_allowed
   * is required; min_value and max_value are strings of numbers.
   */
  number_input: (value, at, errors) => {
    const e = value as Record<string, unknown>;
    commonElement(e, at, errors);
    if (typeof e.is_decimal_allowed !== 'boolean')
      errors.push(`must provide a boolean [json-pointer:${at}/is_decimal_allowed]`);
    for (const key of ['min_value', 'max_value', 'initial_value'] as const) {
      const v = e[key];
      if (v !== undefined && (typeof v !== 'string' || Number.isNaN(Number(v))))
        errors.push(`must be a string holding a number [json-pointer:${at}/${key}]`);
    }
  },
  /** https://docs.slack.dev/reference/block-kit/block-elements/checkboxes-element: 1-10 options. */
  checkboxes: (value, at, errors) => {
    const e = value as Record<string, unknown>;
    commonElement(e, at, errors);
    checkItems(e.options, `${at}/options`, errors, 10, option);
  },
};

function element(value: unknown, at: string, errors: string[], allowed: readonly string[]): void {
  if (!isObject(value)) {
    errors.push(`must provide an object [json-pointer:${at}]`);
    return;
  }
  const check = allowed.includes(String(value.type)) ? ELEMENTS[String(value.type)] : undefined;
  if (!check) {
    errors.push(`unsupported element type [json-pointer:${at}/type]`);
    return;
  }
  check(value, at, errors);
}

const BLOCKS: Record<string, Check> = {
  /** https://docs.slack.dev/reference/block-kit/blocks/section-block: text <= 3000; fields <= 10 items of <= 2000; text or fields. */
  section: (block, at, errors) => {
    const b = block as Record<string, unknown>;
    if (b.text === undefined && b.fields === undefined)
      errors.push(`must provide either text or fields [json-pointer:${at}]`);
    if (b.text !== undefined) textObject(3000)(b.text, `${at}/text`, errors);
    if (b.fields !== undefined) checkItems(b.fields, `${at}/fields`, errors, 10, textObject(2000));
    if (b.accessory !== undefined)
      element(b.accessory, `${at}/accessory`, errors, ['button', 'static_select', 'external_select']);
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
  /** https://docs.slack.dev/reference/block-kit/blocks/actions-block: 1-25 interactive elements (buttons and selects). */
  actions: (block, at, errors) => {
    checkItems((block as Record<string, unknown>).elements, `${at}/elements`, errors, 25, (e, p, errs) =>
      element(e, p, errs, ['button', 'static_select', 'external_select']),
    );
  },
  /** https://docs.slack.dev/reference/block-kit/blocks/divider-block: nothing but the type. */
  divider: () => undefined,
};

/**
 * https://docs.slack.dev/reference/block-kit/blocks/input-block: label (plain_text) at most 2000
 * characters, hint at most 2000, one element. Input blocks belong to modals and Home tabs, not messages.
 */
const INPUT_BLOCK: Check = (block, at, errors) => {
  const b = block as Record<string, unknown>;
  textObject(2000, ['plain_text'])(b.label, `${at}/label`, errors);
  if (b.hint !== undefined) textObject(2000, ['plain_text'])(b.hint, `${at}/hint`, errors);
  element(b.element, `${at}/element`, errors, [
    'static_select',
    'external_select',
    'plain_text_input',
    'number_input',
    'checkboxes',
  ]);
};

/**
 * The errors Slack would answer for a message's blocks, in its own format
 * (`must be less than 3001 characters [json-pointer:/blocks/0/text/text]`); empty when they are valid.
 */
export function blockErrors(blocks: readonly unknown[]): string[] {
  const errors: string[] = [];
  checkBlocks(blocks, '/blocks', MAX_MESSAGE_BLOCKS, BLOCKS, errors);
  return errors;
}

function checkBlocks(
  blocks: readonly unknown[],
  base: string,
  max: number,
  kinds: Record<string, Check>,
  errors: string[],
): void {
  if (blocks.length > max) errors.push(`no more than ${max} items allowed [json-pointer:${base}]`);
  blocks.forEach((block, i) => {
    const at = `${base}/${i}`;
    if (!isObject(block)) {
      errors.push(`must provide an object [json-pointer:${at}]`);
      return;
    }
    const check = kinds[String(block.type)];
    if (!check) {
      errors.push(`unsupported type: ${String(block.type)} [json-pointer:${at}/type]`);
      return;
    }
    if (block.block_id !== undefined) checkString(block.block_id, `${at}/block_id`, errors, 255, 1);
    check(block, at, errors);
  });
}

/** https://docs.slack.dev/reference/surfaces/views: "blocks … Max of 100 blocks", for modals and Home tabs alike. */
export const MAX_VIEW_BLOCKS = 100;
/** https://docs.slack.dev/reference/surfaces/views: a modal's title, submit and close are plain_text of at most 24 characters. */
export const MAX_MODAL_TITLE = 24;

/**
 * The errors Slack would answer for a view passed to views.open, views.update, views.push or
 * views.publish (https://docs.slack.dev/reference/surfaces/views), pointed at `/view/…`.
 */
export function viewErrors(view: unknown): string[] {
  const errors: string[] = [];
  if (!isObject(view)) return ['must provide an object [json-pointer:/view]'];
  if (view.type !== 'modal' && view.type !== 'home')
    errors.push('must be one of [modal, home] [json-pointer:/view/type]');
  if (view.type === 'modal') {
    // https://docs.slack.dev/reference/surfaces/views: title is required for modals; submit is required when there are input blocks.
    textObject(MAX_MODAL_TITLE, ['plain_text'])(view.title, '/view/title', errors);
    if (view.submit !== undefined)
      textObject(MAX_MODAL_TITLE, ['plain_text'])(view.submit, '/view/submit', errors);
    if (view.close !== undefined)
      textObject(MAX_MODAL_TITLE, ['plain_text'])(view.close, '/view/close', errors);
    const hasInput = Array.isArray(view.blocks) && view.blocks.some((b) => isObject(b) && b.type === 'input');
    if (hasInput && view.submit === undefined)
      errors.push('must provide submit when the view has input blocks [json-pointer:/view/submit]');
  }
  // https://docs.slack.dev/reference/surfaces/views: private_metadata up to 3000 characters, callback_id up to 255.
  if (view.private_metadata !== undefined)
    checkString(view.private_metadata, '/view/private_metadata', errors, 3000);
  if (view.callback_id !== undefined) checkString(view.callback_id, '/view/callback_id', errors, 255);
  if (!Array.isArray(view.blocks)) {
    errors.push('must provide an array [json-pointer:/view/blocks]');
    return errors;
  }
  checkBlocks(view.blocks, '/view/blocks', MAX_VIEW_BLOCKS, { ...BLOCKS, input: INPUT_BLOCK }, errors);
  return errors;
}

/**
 * The errors in an app's answer to a block_suggestion (options for an external select):
 * https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element#external_select
 * says it holds at most 100 options, each an option object.
 */
export function suggestionErrors(answer: unknown): string[] {
  const errors: string[] = [];
  if (!isObject(answer)) return ['must provide an object [json-pointer:/]'];
  if (answer.options === undefined && answer.option_groups === undefined)
    return ['must provide either options or option_groups [json-pointer:/]'];
  if (answer.options !== undefined) {
    if (!Array.isArray(answer.options)) return ['must provide an array [json-pointer:/options]'];
    if (answer.options.length > MAX_SELECT_OPTIONS)
      errors.push(`no more than ${MAX_SELECT_OPTIONS} items allowed [json-pointer:/options]`);
    answer.options.forEach((o, i) => {
      option(o, `/options/${i}`, errors);
    });
  }
  return errors;
}

/**
 * The errors in an app's answer to view_submission
 * (https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload and
 * https://docs.slack.dev/surfaces/modals#displaying_errors): `response_action: "errors"` with an
 * `errors` object whose keys are block_ids of input blocks in the submitted view.
 */
export function submissionAnswerErrors(view: { blocks?: unknown }, answer: unknown): string[] {
  if (!isObject(answer) || answer.response_action === undefined) return [];
  const errors: string[] = [];
  const actions = ['errors', 'update', 'push', 'clear'];
  if (!actions.includes(String(answer.response_action)))
    return [`must be one of [${actions.join(', ')}] [json-pointer:/response_action]`];
  if (answer.response_action !== 'errors') return [];
  if (!isObject(answer.errors)) return ['must provide an object [json-pointer:/errors]'];
  const inputs = new Set(
    (Array.isArray(view.blocks) ? view.blocks : [])
      .filter((b) => isObject(b) && b.type === 'input')
      .map((b) => String((b as Record<string, unknown>).block_id)),
  );
  for (const [blockId, message] of Object.entries(answer.errors)) {
    if (!inputs.has(blockId))
      errors.push(`no input block ${blockId} in the view [json-pointer:/errors/${blockId}]`);
    if (typeof message !== 'string' || message === '')
      errors.push(`must be a non-empty string [json-pointer:/errors/${blockId}]`);
  }
  return errors;
}
