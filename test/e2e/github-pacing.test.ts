import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../faults/support.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { AUDIT_REPO, auditRecords, slash, startWorld, type World } from '../helpers/world.js';

const GAP_MS = 1_000;
const jobOf = (text: string | undefined) => /^Accepted: .*\(job (\S+)\)\.$/.exec(text ?? '')?.[1];

/** The audit commits the fake received (PUT on a file of the audit repository), in arrival order. */
function auditWrites(world: World) {
  return world.github.requests
    .filter((r) => r.method === 'PUT' && r.path.startsWith(`/repos/${AUDIT_REPO}/contents/`))
    .sort((a, b) => a.at - b.at);
}

/** Octokit's request log lines (debug) for audit commits this bot process sent. */
function writesSentBy(bot: BotProcess): number {
  return bot.lines.filter(
    (l) => l.msg === 'octokit' && String(l.octokit).startsWith(`PUT /repos/${AUDIT_REPO}/contents/`),
  ).length;
}

describe('GitHub writes paced across replicas, with the limiter in Redis', () => {
  let world: World;
  let bots: BotProcess[] = [];

  beforeAll(async () => {
    world = await startWorld();
    const env = { ...world.env, OPSBOT_GITHUB_WRITE_GAP_MS: String(GAP_MS), LOG_LEVEL: 'debug' };
    bots = await Promise.all([startBotProcess(env), startBotProcess(env)]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(bots.map((b) => b.stop()));
    await world?.close();
  });

  it('keeps one pace between audit commits, whichever of two bot processes sends them', async () => {
    const targets = ['api', 'worker', 'web'];
    const acks = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        slash(bots[i % 2]!.url, world, `scale ${targets[i % 3]} ${2 + i} --env staging`),
      ),
    );
    const jobs = acks.map((a) => jobOf(a.body.text));
    expect(jobs.every(Boolean), JSON.stringify(acks.map((a) => a.body.text))).toBe(true);
    await until(
      () => jobs.every((id) => auditRecords(world).some((r) => r.jobId === id)),
      60_000,
      'an audit record for every command',
    );

    const writes = auditWrites(world);
    expect(writes.length).toBeGreaterThanOrEqual(8);
    const gaps = writes.slice(1).map((w, i) => w.at - writes[i]!.at);
    // Bottleneck spaces the starts of writes by minTime; on a loaded machine a request leaves a few
    // hundred ms late, which shortens the next gap. Unshared, the two processes' first writes would
    // coincide and the span would be about half as long.
    expect(Math.min(...gaps), JSON.stringify(gaps)).toBeGreaterThanOrEqual(GAP_MS * 0.3);
    const span = writes.at(-1)!.at - writes[0]!.at;
    expect(span, JSON.stringify(gaps)).toBeGreaterThanOrEqual((writes.length - 1) * GAP_MS * 0.75);
    // Both processes wrote: the pace is shared, not each one's own.
    expect(writesSentBy(bots[0]!)).toBeGreaterThan(0);
    expect(writesSentBy(bots[1]!)).toBeGreaterThan(0);
  }, 90_000);

  it('hands a rate-limited write back to the queue, which retries it once after Retry-After', async () => {
    const before = auditWrites(world).length;
    // GitHub's secondary rate limit: 429 with retry-after (docs.github.com, "Rate limits for the REST API").
    world.github.failFor({ status: 429, times: 1, retryAfterSeconds: 1, path: /\/contents\// });
    const ack = await slash(bots[0]!.url, world, 'scale web 7 --env staging');
    const jobId = jobOf(ack.body.text);
    expect(jobId, ack.body.text).toBeDefined();
    await until(
      () => auditRecords(world).some((r) => r.jobId === jobId),
      30_000,
      'the record after the retry',
    );

    const attempts = auditWrites(world).slice(before);
    expect(attempts.map((w) => w.status)).toEqual([429, 201]);
    // Not retried inside Octokit: the 429 reached the audit queue, which waited at least Retry-After.
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(1_000);
    const handedBack = bots.flatMap((b) => b.lines).filter((l) => l.msg === 'audit write failed; will retry');
    expect(handedBack).toHaveLength(1);
    expect(
      bots.flatMap((b) => b.lines).filter((l) => l.msg === 'GitHub secondary rate limit; the queue retries'),
    ).toHaveLength(1);
  }, 60_000);
});
