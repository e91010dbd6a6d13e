import { z } from 'zod';
import { AlertGroup } from '../core/alert.js';
import { sourceById } from './sources/index.js';
import type { AlertSource, Parsed } from './sources/source.js';

/**
 * What a webhook puts on the alerts queue, in its one Redis write before it answers: the body as
 * the sender sent it and when it came. The worker reads it again and groups it, so a delivery
 * accepted by an older or newer release is read by the code that acts on it.
 */
export const QueuedDelivery = z.object({
  source: z.string().min(1),
  raw: z.string(),
  /** When the web process received it: the alert group's timestamps depend on it. */
  receivedAt: z.number(),
});
export type QueuedDelivery = z.infer<typeof QueuedDelivery>;

/** Jobs queued before deliveries were queued raw held the group itself; they are still read. */
const QueuedGroup = z.object({ group: AlertGroup });

/** A body read with its source's schema, or why it could not be. */
export type ReadDelivery<P = unknown> = Parsed<P> | { ok: false; reason: string; notJson: true };

/** Reads a body as its source does. The web does it to answer honestly; the worker, to act. */
export function readDelivery<P>(source: AlertSource<P>, raw: string, receivedAt: number): ReadDelivery<P> {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'the body is not JSON', notJson: true };
  }
  return source.parse(json, receivedAt);
}

/** The outcome of a queued alerts job, as the worker acts on it. */
export type QueuedOutcome = { group: AlertGroup } | { ignored: string } | { invalid: string };

/** Turns an alerts job back into the group to act on; a job that cannot become one says why. */
export function groupOfQueued(data: unknown): QueuedOutcome {
  const legacy = QueuedGroup.safeParse(data);
  if (legacy.success) return { group: legacy.data.group };
  const delivery = QueuedDelivery.safeParse(data);
  if (!delivery.success) return { invalid: 'the job is not a queued delivery' };
  const source = sourceById(delivery.data.source);
  if (!source) return { invalid: `no alert source is registered as ${delivery.data.source}` };
  const read = readDelivery(source, delivery.data.raw, delivery.data.receivedAt);
  if (!read.ok) return { invalid: read.reason };
  return 'group' in read ? { group: read.group } : { ignored: read.ignored };
}
