import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack refuses requests older than five minutes; so do we, in both directions. */
export const MAX_SKEW_SECONDS = 300;

export type Verification = { ok: true } | { ok: false; reason: 'missing' | 'stale' | 'mismatch' };

/** Slack's v0 request signature: hex HMAC-SHA256 of `v0:<timestamp>:<raw body>`. */
export function verifySlackSignature(
  signingSecret: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  rawBody: Buffer,
  nowSeconds: number,
): Verification {
  const { signature, timestamp } = headers;
  if (!signature || !timestamp || !/^\d+$/.test(timestamp)) return { ok: false, reason: 'missing' };
  if (Math.abs(nowSeconds - Number(timestamp)) > MAX_SKEW_SECONDS) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(
    `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(rawBody).digest('hex')}`,
  );
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected)
    ? { ok: true }
    : { ok: false, reason: 'mismatch' };
}
