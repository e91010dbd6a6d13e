import { createHash } from 'node:crypto';

/** A stable, Redis- and BullMQ-safe id derived from whatever identifies a delivery (e.g. Slack's trigger_id). */
export function idempotencyKey(kind: string, ...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 20);
  return `${kind}-${digest}`;
}
