import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { AUDIT_REPO, auditRecords, slash, startWorld, USERS, type World } from '../helpers/world.js';
import { recordsFor, sleep, until, writesTo } from './support.js';

/** This is the suite's one full minute: 30 s of 502s, then 30 s of 429s with Retry-After. */
const OUTAGE_MS = 60_000;

describe('GitHub answering 502, then 429 with Retry-After, for a minute', () => {
  let world: World;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    world = await startWorld();
    bot = await startBotProcess(world.env);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('delivers every audit record afterwards, none lost, in order per target', async () => {
    const started = Date.now();
    world.github.failFor({ status: 502, durationMs: OUTAGE_MS / 2 });
    world.github.failFor({ status: 429, durationMs: OUTAGE_MS, retryAfterSeconds: 1 });

    // Per target a sequence of outcomes, each one recorded after the one before it.
    const steps: [string, (typeof USERS)[keyof typeof USERS]][] = [
      ['restart api --env staging', USERS.oncall],
      ['restart worker --env staging', USERS.oncall],
      ['scale api 4 --env staging', USERS.oncall],
      ['rollback api --env staging', USERS.developer],
      ['scale worker 3 --env staging', USERS.oncall],
    ];
    for (const [text, user] of steps) {
      const res = await slash(bot!.url, world, text, { user });
      expect(res.status).toBe(200);
      await sleep(1_500);
    }
    await until(
      () => writesTo(world, 'api').length === 2 && writesTo(world, 'worker').length === 2,
      20_000,
      'the actions',
    );
    expect(auditRecords(world)).toHaveLength(0);

    const records = await until(
      () => auditRecords(world).length >= steps.length && auditRecords(world),
      OUTAGE_MS + 45_000 - (Date.now() - started),
      'the audit records after the outage',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(OUTAGE_MS - 1_000);
    await sleep(1_000);
    expect(auditRecords(world)).toHaveLength(steps.length);
    expect(recordsFor(world, 'api').map((r) => r.outcome)).toEqual(['executed', 'executed', 'denied']);
    expect(recordsFor(world, 'worker').map((r) => r.outcome)).toEqual(['executed', 'executed']);
    expect(writesTo(world, 'api')).toHaveLength(2);
    expect(writesTo(world, 'worker')).toHaveLength(2);

    // Commit order per target follows the order the outcomes happened in.
    const timeOf = new Map(records.map((r) => [`audit/${String(r.id)}`, String(r.time)]));
    const commits = [...world.github.commits(AUDIT_REPO)]
      .reverse()
      .filter((c) => c.path.startsWith('audit/'));
    for (const target of ['api', 'worker']) {
      const mine = commits.filter((c) => new RegExp(`^\\S+ ${target} in staging`).test(c.message));
      const files = Object.entries(world.github.files(AUDIT_REPO));
      const times = mine.map((c) => {
        const content = files.find(([path]) => path === c.path)?.[1] ?? '{}';
        return String((JSON.parse(content) as { time?: string }).time);
      });
      expect(times, target).toEqual([...times].sort());
      expect(mine.length, target).toBe(target === 'api' ? 3 : 2);
    }
    expect(timeOf.size).toBe(steps.length);
  }, 150_000);
});
