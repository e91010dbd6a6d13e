import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Env } from '../../config/env.js';
import type { AlertGroup } from '../../core/alert.js';
import type { Incident } from '../../core/incident.js';

/** One HTTP delivery as a source sees it: the raw body and its headers. */
export interface WebhookDelivery {
  raw: Buffer;
  /** A request header by lowercase name; repeated headers joined with ",". */
  header(name: string): string | undefined;
}

/** What a delivery can be checked against. */
export interface WebhookCredentials {
  /** OPSBOT_WEBHOOK_TOKEN, sent as a bearer token. */
  token: string | undefined;
  /** OPSBOT_WEBHOOK_ALLOW_UNAUTHENTICATED: without a token, accept anyway (local use). */
  allowUnauthenticated: boolean;
  /** Signing secrets by source id, for sources that sign their deliveries (see AlertSource.secrets). */
  signingSecrets: Readonly<Record<string, readonly string[]>>;
}

/** `ok`; `denied` (wrong credentials); `unconfigured` (nothing is set up to check them against). */
export type Authentication = 'ok' | 'denied' | 'unconfigured';

/** A test delivery (a source's "Test" button): it proves the webhook works and opens no incident. */
export interface TestDelivery {
  /** Names the test for deduplication of its note. */
  key: string;
  /** Who sent it, in the source's terms (a contact point's name, a monitor id). */
  receiver: string;
  /** How the note names where it came from, e.g. `contact point "opsbot"`. */
  from: string;
}

/** A body the source validated: alerts to act on, or a reason it asks for nothing. */
export type Parsed<P> =
  | { ok: true; payload: P; group: AlertGroup }
  | {
      ok: true;
      payload: P;
      ignored: string;
      /** Logged at info level: a delivery worth telling the operator about (a ping). */
      notice?: string;
      /** Fields for the log line about it (the event type…). */
      fields?: Record<string, unknown>;
    }
  | { ok: false; reason: string };

/**
 * One alert source: how its webhook deliveries are authenticated, validated and turned into
 * opsbot's one AlertGroup shape, what makes a redelivery the same delivery, and what a test looks
 * like. Registered in ./index.ts; `POST /webhooks/<id>` follows from that line.
 */
export interface AlertSource<P = unknown> {
  /** The path segment of its webhook and the `source` of its alert groups: lowercase. */
  readonly id: string;
  /** How logs and notes name it, e.g. "Grafana". */
  readonly name: string;
  authenticate(delivery: WebhookDelivery, credentials: WebhookCredentials): Authentication;
  /** Validates the JSON body with zod and turns it into an alert group. */
  parse(body: unknown, receivedAt: number): Parsed<P>;
  /** The same delivery sent again gets the same id, so it adds nothing (the queue dedupes on it). */
  deliveryId(payload: P, group: AlertGroup, delivery: WebhookDelivery): string;
  isTest(payload: P): TestDelivery | undefined;
  /**
   * How a body that fails validation is answered: `reject` (400 with the reason) or `acknowledge`
   * (202, logged), for a source that punishes 4xx answers.
   */
  readonly invalidBodies: 'reject' | 'acknowledge';
  /** Its signing secrets, from the environment; when any is set, they replace the bearer token. */
  secrets?(env: Env): string[];
  /**
   * Each delivery states the alert's current state, so a firing after a resolve is a new firing
   * even when its timestamp is not newer (PagerDuty incidents).
   */
  readonly refireAfterResolve?: boolean;
  /**
   * Keys under which another source names this group's incident: Alertmanager's PagerDuty
   * integration sends the SHA-256 of the group key as dedup_key, which PagerDuty's incident_key repeats.
   */
  dedupKeys?(group: AlertGroup): string[];
  /** A link that silences the incident's alerts at the source, when it has one. */
  silenceURL?(incident: Pick<Incident, 'externalURL' | 'labels'>): string | undefined;
}

/** Keeps a source's payload type between its methods; the registry holds them as AlertSource. */
/** A `parse` for sources whose body is one schema and whose alerts are one group. */
export function parseAs<P>(
  schema: z.ZodType<P>,
  toGroup: (payload: P, receivedAt: number) => AlertGroup,
): (body: unknown, receivedAt: number) => Parsed<P> {
  return (body, receivedAt) => {
    const r = schema.safeParse(body);
    if (!r.success) return { ok: false, reason: z.prettifyError(r.error) };
    return { ok: true, payload: r.data, group: toGroup(r.data, receivedAt) };
  };
}

export function defineSource<P>(source: AlertSource<P>): AlertSource<P> {
  return source;
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `Authorization: Bearer <OPSBOT_WEBHOOK_TOKEN>`, compared in constant time: what most sources send. */
export function authenticateBearer(
  delivery: WebhookDelivery,
  credentials: WebhookCredentials,
): Authentication {
  if (credentials.token === undefined) return credentials.allowUnauthenticated ? 'ok' : 'unconfigured';
  return bearerMatches(delivery.header('authorization'), credentials.token) ? 'ok' : 'denied';
}
