import { Incident } from '../core/incident.js';
import type { RedisClient } from '../queue/connection.js';
import { channelChangesTopic } from './channel-cache.js';

export interface IncidentButton {
  text: string;
  channel: string;
}

/** Where incidents live between jobs: Redis in production, a Map in local mode. */
export interface IncidentStore {
  /** The id of the group's latest incident. */
  current(key: string): Promise<string | undefined>;
  setCurrent(key: string, id: string): Promise<void>;
  get(id: string): Promise<Incident | undefined>;
  /** Saves the incident and indexes its channel. */
  put(incident: Incident): Promise<void>;
  byChannel(channelId: string): Promise<string | undefined>;
  /** Open incidents, newest first, at most `limit`: what the App Home tab lists. */
  openIncidents(limit: number): Promise<Incident[]>;
  putButton(id: string, button: IncidentButton): Promise<void>;
  button(id: string): Promise<IncidentButton | undefined>;
  /**
   * Takes one channel-creation slot of a sliding window shared by every replica: answers 0 when
   * taken, or how many ms to wait for the next free one.
   */
  takeCreateSlot(now: number, limit: number, windowMs: number, token: string): Promise<number>;
  /** Moves a taken slot's time to `now`, once the call it was taken for has finished. */
  touchCreateSlot(now: number, token: string): Promise<void>;
  /**
   * Reserves a channel name for an incident, answering when it was claimed (ms), or undefined when
   * another incident holds it. Claiming again returns the first claim's time.
   */
  claimChannelName(name: string, incidentId: string, now: number): Promise<number | undefined>;
}

const TAKE_SLOT = `
redis.call('zremrangebyscore', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[3]))
if redis.call('zscore', KEYS[1], ARGV[4]) then return 0 end
if redis.call('zcard', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('zadd', KEYS[1], ARGV[1], ARGV[4])
  redis.call('pexpire', KEYS[1], ARGV[3])
  return 0
end
local oldest = redis.call('zrange', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + tonumber(ARGV[3]) - tonumber(ARGV[1]) + 1`;

const TTL_S = 30 * 86_400;

export class RedisIncidentStore implements IncidentStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private k(...parts: string[]): string {
    return [this.prefix, 'incidents', ...parts].join(':');
  }

  async current(key: string): Promise<string | undefined> {
    return (await this.redis.get(this.k('group', key))) ?? undefined;
  }

  async setCurrent(key: string, id: string): Promise<void> {
    await this.redis.set(this.k('group', key), id, 'EX', TTL_S);
  }

  async get(id: string): Promise<Incident | undefined> {
    const raw = await this.redis.get(this.k('incident', id));
    return raw ? Incident.parse(JSON.parse(raw)) : undefined;
  }

  async put(incident: Incident): Promise<void> {
    const multi = this.redis
      .multi()
      .set(this.k('incident', incident.id), JSON.stringify(incident), 'EX', TTL_S);
    if (incident.channelId) {
      multi.set(this.k('channel', incident.channelId), incident.id, 'EX', TTL_S);
      // Every process that caches channel contexts drops this one (see channel-cache.ts).
      multi.publish(channelChangesTopic(this.prefix), incident.channelId);
    }
    if (incident.status === 'open') multi.zadd(this.k('open'), incident.openedAt, incident.id);
    else multi.zrem(this.k('open'), incident.id);
    await multi.exec();
  }

  async openIncidents(limit: number): Promise<Incident[]> {
    const ids = await this.redis.zrevrange(this.k('open'), 0, limit - 1);
    const found = await Promise.all(ids.map((id) => this.get(id)));
    // An incident whose record expired is gone from the list too.
    const gone = ids.filter((_, i) => !found[i]);
    if (gone.length > 0) await this.redis.zrem(this.k('open'), ...gone);
    return found.filter((i): i is Incident => i?.status === 'open');
  }

  async byChannel(channelId: string): Promise<string | undefined> {
    return (await this.redis.get(this.k('channel', channelId))) ?? undefined;
  }

  async putButton(id: string, button: IncidentButton): Promise<void> {
    await this.redis.set(this.k('button', id), JSON.stringify(button), 'EX', TTL_S);
  }

  async button(id: string): Promise<IncidentButton | undefined> {
    const raw = await this.redis.get(this.k('button', id));
    if (!raw) return undefined;
    const parsed = JSON.parse(raw) as Partial<IncidentButton>;
    return typeof parsed.text === 'string' && typeof parsed.channel === 'string'
      ? { text: parsed.text, channel: parsed.channel }
      : undefined;
  }

  async takeCreateSlot(now: number, limit: number, windowMs: number, token: string): Promise<number> {
    const wait = await this.redis.eval(TAKE_SLOT, 1, this.k('create-slots'), now, limit, windowMs, token);
    return Number(wait);
  }

  async touchCreateSlot(now: number, token: string): Promise<void> {
    await this.redis.zadd(this.k('create-slots'), 'XX', now, token);
  }

  async claimChannelName(name: string, incidentId: string, now: number): Promise<number | undefined> {
    const key = this.k('channel-name', name);
    await this.redis.set(key, `${incidentId} ${now}`, 'EX', TTL_S, 'NX');
    const [holder, at] = ((await this.redis.get(key)) ?? '').split(' ');
    return holder === incidentId ? Number(at) : undefined;
  }
}

export class MemoryIncidentStore implements IncidentStore {
  private readonly groups = new Map<string, string>();
  private readonly incidents = new Map<string, string>();
  private readonly channels = new Map<string, string>();
  private readonly buttons = new Map<string, IncidentButton>();
  private readonly names = new Map<string, { incidentId: string; at: number }>();
  private slots: { at: number; token: string }[] = [];

  /** Told of every channel whose incident changed, as Redis publishes it to every process. */
  constructor(private readonly onChannelChanged: (channelId: string) => void = () => undefined) {}

  async current(key: string) {
    return this.groups.get(key);
  }
  async setCurrent(key: string, id: string) {
    this.groups.set(key, id);
  }
  async get(id: string) {
    const raw = this.incidents.get(id);
    return raw ? Incident.parse(JSON.parse(raw)) : undefined;
  }
  async put(incident: Incident) {
    this.incidents.set(incident.id, JSON.stringify(incident));
    if (incident.channelId) {
      this.channels.set(incident.channelId, incident.id);
      this.onChannelChanged(incident.channelId);
    }
  }
  async byChannel(channelId: string) {
    return this.channels.get(channelId);
  }
  async openIncidents(limit: number) {
    return [...this.incidents.values()]
      .map((raw) => Incident.parse(JSON.parse(raw)))
      .filter((i) => i.status === 'open')
      .sort((a, b) => b.openedAt - a.openedAt)
      .slice(0, limit);
  }
  async putButton(id: string, button: IncidentButton) {
    this.buttons.set(id, button);
  }
  async button(id: string) {
    return this.buttons.get(id);
  }
  async takeCreateSlot(now: number, limit: number, windowMs: number, token: string) {
    this.slots = this.slots.filter((s) => s.at > now - windowMs);
    if (this.slots.some((s) => s.token === token)) return 0;
    if (this.slots.length < limit) {
      this.slots.push({ at: now, token });
      return 0;
    }
    return (this.slots[0]?.at ?? now) + windowMs - now + 1;
  }
  async touchCreateSlot(now: number, token: string) {
    for (const slot of this.slots) if (slot.token === token) slot.at = now;
    this.slots.sort((a, b) => a.at - b.at);
  }
  async claimChannelName(name: string, incidentId: string, now: number) {
    const claim = this.names.get(name) ?? { incidentId, at: now };
    this.names.set(name, claim);
    return claim.incidentId === incidentId ? claim.at : undefined;
  }
}
