import { z } from 'zod';
import { UserInputError } from './errors.js';
import { oneLine } from './text.js';

/** What the tokenizer makes of `/ops …` text: bare words in order, and `--flag value` pairs. */
export const ParsedInput = z.object({
  words: z.array(z.string()),
  flags: z.record(z.string(), z.union([z.string(), z.literal(true)])),
});
export type ParsedInput = z.infer<typeof ParsedInput>;

const QUOTES: Record<string, string> = { '"': '"', "'": "'", '“': '”', '‘': '’', '”': '”' };
/** Flags that never take a value; every other flag needs one. */
const BOOLEAN_FLAGS = new Set(['dry-run', 'emergency', 'mine', 'help', 'force']);
const MAX_INPUT = 2000;

/** Splits command text into tokens, honouring straight and Slack's curly quotes. */
export function tokenize(text: string): string[] {
  if (text.length > MAX_INPUT)
    throw new UserInputError(`The command is too long (over ${MAX_INPUT} characters).`);
  const tokens: string[] = [];
  let current = '';
  let inToken = false;
  let closing: string | undefined;
  for (const ch of text) {
    if (closing !== undefined) {
      if (ch === closing) closing = undefined;
      else current += ch;
    } else if (QUOTES[ch] !== undefined) {
      closing = QUOTES[ch];
      inToken = true;
    } else if (/\s/.test(ch)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
    } else {
      current += ch;
      inToken = true;
    }
  }
  if (closing !== undefined) throw new UserInputError('A quote is not closed.');
  if (inToken) tokens.push(current);
  return tokens;
}

/** Turns tokens into words and flags: `--env prod`, `--env=prod`, and boolean `--dry-run`. */
export function parseInput(text: string): ParsedInput {
  const words: string[] = [];
  // Flag names are user text: a null-prototype object has no "constructor" or "toString" to collide with.
  const flags: ParsedInput['flags'] = Object.create(null);
  const tokens = tokenize(text);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    // Slack turns "--" into an em dash on some clients; accept it as the user meant it.
    const normal = token.startsWith('—') ? `--${token.slice(1)}` : token;
    if (!normal.startsWith('--') || normal === '--') {
      words.push(token);
      continue;
    }
    const body = normal.slice(2);
    const eq = body.indexOf('=');
    const name = (eq === -1 ? body : body.slice(0, eq)).toLowerCase();
    if (!/^[a-z][a-z-]*$/.test(name)) throw new UserInputError(`"${token}" is not a valid flag.`);
    if (Object.hasOwn(flags, name)) throw new UserInputError(`--${name} is given more than once.`);
    if (eq !== -1) {
      flags[name] = body.slice(eq + 1);
    } else if (BOOLEAN_FLAGS.has(name)) {
      flags[name] = true;
    } else {
      const value = tokens[i + 1];
      // A bare flag is left for the command to judge: unknown there, or "needs a value".
      if (value === undefined || value.startsWith('--')) {
        flags[name] = true;
      } else {
        flags[name] = value;
        i++;
      }
    }
  }
  return { words, flags };
}

type Shape = Record<string, z.ZodType>;

export interface ArgsSpec<P extends Shape, F extends Shape> {
  /** Positional arguments in order; optional ones (z.optional) must come last. */
  positionals: P;
  flags: F;
}

export type ArgsOf<P extends Shape, F extends Shape> = z.output<z.ZodObject<P & F>>;

/**
 * Builds a parser for one command's arguments. Positionals are named so that errors can say
 * `<deployment>` rather than `[0]`; unknown flags and extra words are refused, not ignored.
 */
export function defineArgs<P extends Shape, F extends Shape>(spec: ArgsSpec<P, F>): ArgsParser<ArgsOf<P, F>> {
  const names = Object.keys(spec.positionals);
  const schema = z.strictObject({ ...spec.positionals, ...spec.flags });
  const parse = (input: ParsedInput): ArgsOf<P, F> => {
    if (input.words.length > names.length) {
      throw new UserInputError(`Unexpected argument "${input.words[names.length]}".`);
    }
    const raw: Record<string, unknown> = Object.create(null);
    names.forEach((name, i) => {
      if (input.words[i] !== undefined) raw[name] = input.words[i];
    });
    for (const [flag, value] of Object.entries(input.flags)) {
      const key = camelCase(flag);
      const flagSchema = Object.hasOwn(spec.flags, key) ? spec.flags[key] : undefined;
      if (!flagSchema) throw new UserInputError(`Unknown flag --${flag}.`);
      if (value === true && !flagSchema.safeParse(true).success)
        throw new UserInputError(`--${flag} needs a value.`);
      raw[key] = value;
    }
    const result = schema.safeParse(raw);
    if (result.success) return result.data as ArgsOf<P, F>;
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const label = names.includes(key) ? `<${key}>` : `--${kebabCase(key)}`;
    const message = issue.code === 'invalid_type' && raw[key] === undefined ? 'is required' : issue.message;
    throw new UserInputError(`${label} ${message}.`);
  };
  const args = [
    ...names.map((name) => ({ name, positional: true, schema: spec.positionals[name] as z.ZodType })),
    ...Object.keys(spec.flags).map((key) => ({
      name: kebabCase(key),
      positional: false,
      schema: spec.flags[key] as z.ZodType,
    })),
  ].map((a) => ({
    name: a.name,
    positional: a.positional,
    required: !a.schema.safeParse(undefined).success,
    takesValue: !a.schema.safeParse(true).success,
    description: a.schema.description,
  }));
  return Object.assign(parse, { positionals: names, flags: Object.keys(spec.flags).map(kebabCase), args });
}

/** One argument a command takes, as other surfaces (runbook steps, forms) need to know it. */
export interface ArgSpec {
  /** `deployment` for a positional, `dry-run` for a flag. */
  name: string;
  positional: boolean;
  required: boolean;
  /** False for boolean flags such as --dry-run. */
  takesValue: boolean;
  description?: string | undefined;
}

/** A command's argument parser, which also says what it accepts (for defaults and help). */
export interface ArgsParser<T> {
  (input: ParsedInput): T;
  readonly positionals: readonly string[];
  readonly flags: readonly string[];
  /** Every argument, in order: the one source of truth for chat, runbook steps and forms. */
  readonly args: readonly ArgSpec[];
}

/**
 * Fills what the user left out from context (an incident channel's labels): a missing --env flag,
 * and a missing leading <deployment>. Only for arguments the command actually takes.
 */
export function withDefaults(
  input: ParsedInput,
  accepts: Pick<ArgsParser<unknown>, 'positionals' | 'flags'>,
  defaults: { environment?: string | undefined; deployment?: string | undefined },
): ParsedInput {
  const flags: ParsedInput['flags'] = Object.assign(Object.create(null), input.flags);
  if (defaults.environment && accepts.flags.includes('env') && flags.env === undefined)
    flags.env = defaults.environment;
  let words = input.words;
  if (
    defaults.deployment &&
    accepts.positionals[0] === 'deployment' &&
    words.length < accepts.positionals.length
  ) {
    // "scale 5" in an incident channel means "scale <its deployment> 5".
    const firstLooksLikeName = words[0] !== undefined && !/^\d+$/.test(words[0]);
    if (!firstLooksLikeName) words = [defaults.deployment, ...words];
  }
  return { words, flags };
}

function camelCase(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function kebabCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A revision, replica count or PR number typed in chat: digits only, no "1e3" or "0x10". */
export const PositiveIntText = z
  .string()
  .regex(/^[1-9]\d{0,8}$/, 'must be a positive whole number')
  .transform(Number);

export const NonNegativeIntText = z
  .string()
  .regex(/^(0|[1-9]\d{0,8})$/, 'must be a whole number, 0 or more')
  .transform(Number);

/** Free text typed in chat, kept to one line so it can never draw extra lines into a message or commit. */
export function oneLineText(min: number, max: number, tooShort = `must be at least ${min} characters`) {
  return z
    .string()
    .transform(oneLine)
    .pipe(z.string().min(min, tooShort).max(max, `must be at most ${max} characters`));
}

export const Reason = oneLineText(3, 500, 'must say why, in at least 3 characters');
