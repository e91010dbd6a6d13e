/** Shared value helpers: JSON equality, Kubernetes' generated names and hashes (rand.SafeEncodeString), RFC 3339 timestamps. */
import { randomInt } from 'node:crypto';
import type { JsonObject } from './types.js';

/** The alphabet Kubernetes uses for generated name suffixes (no vowels, no confusable characters). */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const clone = <T>(value: T): T => structuredClone(value);

/** JSON with sorted keys, so equal objects give equal strings (hashes, equality, change detection). */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (isObject(value)) {
    const entries = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${stableStringify(value[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export const deepEqual = (a: unknown, b: unknown) => stableStringify(a) === stableStringify(b);

export function fnv32a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

/** rand.SafeEncodeString: how Kubernetes turns a hash into a name-safe pod-template-hash. */
export const safeEncode = (text: string) =>
  [...text].map((ch) => SAFE_ALPHABET.charAt(ch.charCodeAt(0) % SAFE_ALPHABET.length)).join('');

export function randomSuffix(length = 5): string {
  let suffix = '';
  for (let i = 0; i < length; i++) suffix += SAFE_ALPHABET.charAt(randomInt(SAFE_ALPHABET.length));
  return suffix;
}

/** RFC 3339 with second precision, as Kubernetes writes timestamps. */
export const timestamp = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function stringRecord(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

export function imageTag(image: string): string {
  const lastColon = image.lastIndexOf(':');
  return lastColon > image.lastIndexOf('/') ? (image.slice(lastColon + 1).split('@')[0] ?? '') : '';
}
