import { z } from 'zod';
import { formatDuration } from './duration.js';
import { UserInputError } from './errors.js';

/** Every preview namespace is `preview-<name>`, so a name leaves room for the prefix within 63 characters. */
export const PREVIEW_PREFIX = 'preview-';

export const PreviewName = z
  .string()
  .max(63 - PREVIEW_PREFIX.length, `must be at most ${63 - PREVIEW_PREFIX.length} characters`)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    'must be lowercase letters, digits and "-", starting and ending with a letter or digit',
  );
export type PreviewName = z.infer<typeof PreviewName>;

/** A git ref as typed in chat: branch or tag names, no spaces, no "..", no leading "-". */
export const GitRef = z
  .string()
  .max(200, 'must be at most 200 characters')
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9._/-]*$/,
    'must be a branch or tag name (letters, digits, ".", "_", "-", "/")',
  )
  .refine((ref) => !ref.includes('..') && !ref.endsWith('/') && !ref.endsWith('.lock'), {
    message: 'is not a valid git ref',
  });

export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  preview: 'opsbot.dev/preview',
  owner: 'opsbot.dev/owner',
  expiresAt: 'opsbot.dev/expires-at',
  ref: 'opsbot.dev/ref',
  pr: 'opsbot.dev/pr',
} as const;

export const ANNOTATIONS = {
  ownerName: 'opsbot.dev/owner-name',
  channel: 'opsbot.dev/channel',
  ref: 'opsbot.dev/ref',
  url: 'opsbot.dev/url',
  /** The expiry (epoch seconds) the owner was last warned about, so a restart never warns twice. */
  warnedFor: 'opsbot.dev/warned-for',
} as const;

export const MANAGED_BY = 'opsbot';

/** Finds every preview opsbot made, whatever Redis remembers. */
export const PREVIEW_SELECTOR = `${LABELS.managedBy}=${MANAGED_BY},${LABELS.preview}`;

export function previewNamespace(name: string): string {
  return `${PREVIEW_PREFIX}${name}`;
}

/** A preview environment as the cluster records it on its namespace. */
export interface PreviewEnv {
  name: string;
  namespace: string;
  owner: string;
  ownerName?: string | undefined;
  /** ms since epoch */
  expiresAt: number;
  ref?: string | undefined;
  pr?: number | undefined;
  channel?: string | undefined;
  url?: string | undefined;
  warnedFor?: number | undefined;
  terminating: boolean;
}

export interface NamespaceMeta {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  terminating: boolean;
}

const SlackUserId = z.string().regex(/^[UW][A-Z0-9]{2,}$/);
const EpochSeconds = z
  .string()
  .regex(/^\d{1,12}$/)
  .transform(Number);

/** Reads a namespace's labels back; anything not made by opsbot, or tampered with, is not a preview. */
export function previewFromNamespace(ns: NamespaceMeta): PreviewEnv | undefined {
  const { labels, annotations } = ns;
  if (labels[LABELS.managedBy] !== MANAGED_BY) return undefined;
  const name = PreviewName.safeParse(labels[LABELS.preview]);
  const owner = SlackUserId.safeParse(labels[LABELS.owner]);
  const expires = EpochSeconds.safeParse(labels[LABELS.expiresAt]);
  if (!name.success || !owner.success || !expires.success) return undefined;
  if (ns.name !== previewNamespace(name.data)) return undefined;
  const pr = labels[LABELS.pr] ? Number(labels[LABELS.pr]) : undefined;
  const warned = annotations[ANNOTATIONS.warnedFor];
  return {
    name: name.data,
    namespace: ns.name,
    owner: owner.data,
    ownerName: annotations[ANNOTATIONS.ownerName],
    expiresAt: expires.data * 1000,
    ref: annotations[ANNOTATIONS.ref],
    pr: Number.isInteger(pr) ? pr : undefined,
    channel: annotations[ANNOTATIONS.channel],
    url: annotations[ANNOTATIONS.url],
    warnedFor: warned && /^\d+$/.test(warned) ? Number(warned) * 1000 : undefined,
    terminating: ns.terminating,
  };
}

export interface PreviewMetaInput {
  name: string;
  owner: { id: string; name?: string | undefined };
  expiresAt: number;
  ref?: string | undefined;
  pr?: number | undefined;
  channel: string;
  url: string;
}

/** Label values allow only [A-Za-z0-9_.-] and 63 characters, so a ref is squeezed there and kept whole in an annotation. */
function labelValue(text: string): string {
  return text
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

export function previewLabels(input: PreviewMetaInput): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.preview]: input.name,
    [LABELS.owner]: input.owner.id,
    [LABELS.expiresAt]: String(Math.floor(input.expiresAt / 1000)),
    ...(input.ref ? { [LABELS.ref]: labelValue(input.ref) } : {}),
    ...(input.pr !== undefined ? { [LABELS.pr]: String(input.pr) } : {}),
  };
}

export function previewAnnotations(input: PreviewMetaInput): Record<string, string> {
  return {
    ...(input.owner.name ? { [ANNOTATIONS.ownerName]: input.owner.name } : {}),
    [ANNOTATIONS.channel]: input.channel,
    [ANNOTATIONS.url]: input.url,
    ...(input.ref ? { [ANNOTATIONS.ref]: input.ref } : {}),
  };
}

/** Image tags: what a registry accepts. A PR's head SHA or a ref with "/" turned into "-". */
export const ImageTag = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'is not a valid image tag');

export function tagForRef(ref: string): string {
  const tag = ref.replace(/\//g, '-').slice(0, 128);
  const parsed = ImageTag.safeParse(tag);
  if (!parsed.success) throw new UserInputError(`--ref ${ref} cannot be used as an image tag.`);
  return parsed.data;
}

export interface PreviewLimits {
  ttl: number;
  maxTtl: number;
  maxPerUser: number;
  maxTotal: number;
}

export function checkTtl(ttl: number, limits: Pick<PreviewLimits, 'maxTtl'>): void {
  if (ttl > limits.maxTtl) {
    throw new UserInputError(
      `--ttl ${formatDuration(ttl)} is longer than the ${formatDuration(limits.maxTtl)} a preview may live.`,
      { code: 'bad_input' },
    );
  }
}

/**
 * The per-user and total limits for opening `name`. Re-opening an existing name updates it, so it
 * never counts against either limit; environments being deleted no longer count.
 */
export function checkOpenLimits(
  live: readonly PreviewEnv[],
  request: { name: string; owner: string },
  limits: Pick<PreviewLimits, 'maxPerUser' | 'maxTotal'>,
): void {
  const others = live.filter((e) => !e.terminating && e.name !== request.name);
  const mine = others.filter((e) => e.owner === request.owner);
  if (mine.length >= limits.maxPerUser) {
    throw new UserInputError(
      `You already have ${mine.length} preview environments open (${mine.map((e) => e.name).join(', ')}); the limit is ${limits.maxPerUser} per person. Close one with /ops env close <name>.`,
    );
  }
  if (others.length >= limits.maxTotal) {
    throw new UserInputError(
      `There are already ${others.length} preview environments open; the limit is ${limits.maxTotal} in total. Try again when one has closed.`,
    );
  }
}

/** The new expiry after extending by `ttl`: from the current expiry (or now, if past), never beyond maxTtl from now. */
export function extendedExpiry(current: number, now: number, ttl: number, maxTtl: number): number {
  const next = Math.max(current, now) + ttl;
  if (next - now > maxTtl) {
    throw new UserInputError(
      `Extending by ${formatDuration(ttl)} would keep it for ${formatDuration(next - now)}; a preview may live at most ${formatDuration(maxTtl)} from now.`,
    );
  }
  return next;
}

export interface ReaperPlan {
  expire: PreviewEnv[];
  warn: PreviewEnv[];
}

/** What the reaper does now: delete what has expired, warn once per expiry about what expires within `warnBefore`. */
export function planReaper(envs: readonly PreviewEnv[], now: number, warnBefore: number): ReaperPlan {
  const live = envs.filter((e) => !e.terminating);
  return {
    expire: live.filter((e) => e.expiresAt <= now),
    warn: live.filter(
      (e) => e.expiresAt > now && e.expiresAt - now <= warnBefore && e.warnedFor !== e.expiresAt,
    ),
  };
}
