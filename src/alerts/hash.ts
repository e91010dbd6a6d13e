import { createHash } from 'node:crypto';

/** A short, stable name for text of any length: job ids, incident ids, test-note ids. */
export function hashOf(text: string, length = 16): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}
