/**
 * The incident context of a channel, as the ack path asks for it on every slash command: kept in
 * process so that the ack needs no Redis round trip for it, and dropped the moment any process
 * says the channel changed (Redis pub/sub). Most commands come from channels that are not
 * incident channels, so the "no incident here" answers are the ones worth keeping.
 */

import type { Logger } from 'pino';
import type { IncidentContext } from '../ports.js';
import type { RedisClient } from '../queue/connection.js';

/** A safety net for a missed message (a subscriber reconnecting is also handled): entries age out. */
const MAX_AGE_MS = 5 * 60_000;
const MAX_ENTRIES = 10_000;

export class ChannelContextCache {
  private readonly entries = new Map<string, { context: IncidentContext | undefined; at: number }>();
  /** Bumped by every invalidation: a lookup that started before one must not store what it read. */
  private generation = 0;

  constructor(
    private readonly load: (channelId: string) => Promise<IncidentContext | undefined>,
    private readonly now: () => number = Date.now,
  ) {}

  async lookup(channelId: string): Promise<IncidentContext | undefined> {
    const hit = this.entries.get(channelId);
    if (hit && this.now() - hit.at < MAX_AGE_MS) return hit.context;
    const generation = this.generation;
    const context = await this.load(channelId);
    if (generation === this.generation) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(channelId, { context, at: this.now() });
    }
    return context;
  }

  invalidate(channelId: string): void {
    this.generation++;
    this.entries.delete(channelId);
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }
}

/** The pub/sub channel on which a process says an incident channel changed. */
export function channelChangesTopic(prefix: string): string {
  return `${prefix}:incidents:channel-changed`;
}

/**
 * Keeps the cache true to Redis: every change message drops its channel, and every (re)connection
 * drops everything, since messages sent while disconnected are lost.
 */
export async function followChannelChanges(
  subscriber: RedisClient,
  topic: string,
  cache: ChannelContextCache,
  log: Logger,
): Promise<void> {
  subscriber.on('message', (from: string, channelId: string) => {
    if (from === topic) cache.invalidate(channelId);
  });
  subscriber.on('ready', () => cache.clear());
  subscriber.on('error', (err: unknown) => log.warn({ err }, 'incident channel subscriber error'));
  await subscriber.subscribe(topic);
}
