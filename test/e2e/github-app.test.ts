import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../faults/support.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { auditRecords, slash, startWorld, USERS, type World } from '../helpers/world.js';

const APP_ID = 271828;
const INSTALLATION_ID = 31415;
const pem = (kind: 'private' | 'public', k: ReturnType<typeof generateKeyPairSync>) =>
  kind === 'private'
    ? k.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
    : k.publicKey.export({ type: 'spki', format: 'pem' }).toString();

/**
 * opsbot as a GitHub App against GitHub Enterprise Server (/api/v3): installation tokens that
 * expire after seconds, revoked early, and credentials that stop working for a while.
 */
describe('GitHub App installation tokens', () => {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld({
      github: {
        app: {
          id: APP_ID,
          publicKey: pem('public', keys),
          installationId: INSTALLATION_ID,
          tokenTtlMs: 3_000,
        },
        pathPrefix: '/api/v3',
      },
    });
    bot = await startBotProcess({
      ...world.env,
      GITHUB_TOKEN: '',
      GITHUB_APP_ID: String(APP_ID),
      // As a Secret often holds it: one line, with \n escapes.
      GITHUB_APP_PRIVATE_KEY: pem('private', keys).replace(/\n/g, '\\n'),
      GITHUB_APP_INSTALLATION_ID: String(INSTALLATION_ID),
    });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  /** Data requests (not the token exchange) that GitHub answered 401. */
  const refused = () => world.github.requests.filter((r) => r.status === 401 && !r.path.startsWith('/app/'));
  const restart = async (n: number) => {
    const res = await slash(bot.url, world, 'restart api --env staging', { user: USERS.oncall });
    expect(res.body.text).toMatch(/^Accepted: restart api in staging/);
    return until(() => auditRecords(world).length >= n, 20_000, `audit record ${n}`);
  };
  const readiness = async () => {
    const res = await fetch(`${bot.url}/readyz`);
    return {
      status: res.status,
      body: (await res.json()) as { checks: { name: string; ok: boolean; error?: string }[] },
    };
  };
  const heldMetric = async () => {
    const text = await (await fetch(`${bot.url}/metrics`)).text();
    return Number(/^opsbot_audit_records_held (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
  };

  it('takes a new token before expires_at passes, on a GitHub Enterprise Server prefix', async () => {
    await restart(1);
    const first = world.github.installationTokens[0];
    expect(first).toBeDefined();
    await until(() => Date.now() > (first?.expiresAt ?? 0) + 200, 6_000, 'the first token to expire');
    await restart(2);
    expect(world.github.installationTokens.length).toBeGreaterThanOrEqual(2);
    expect(refused()).toEqual([]);
    expect(world.github.requests.every((r) => r.status !== 404)).toBe(true);
  });

  it('takes a new token once when GitHub revokes the current one early, and writes the record', async () => {
    world.github.setInstallationTokenTtl(3_600_000);
    await restart(3);
    const before = refused().length;
    world.github.revokeInstallationTokens();
    await restart(4);
    // One 401 for the revoked token, then a fresh token and the same request again.
    expect(refused().length).toBe(before + 1);
    expect(world.github.installationTokens.at(-1)?.revoked).toBe(false);
  });

  it('keeps a record it cannot write queued, reports it on /readyz and in a metric, and writes it once credentials work', async () => {
    // The app's key is regenerated on GitHub and every token revoked: nothing can be written.
    world.github.setAppPublicKey(pem('public', generateKeyPairSync('rsa', { modulusLength: 2048 })));
    world.github.revokeInstallationTokens();
    const res = await slash(bot.url, world, 'restart worker --env staging', { user: USERS.oncall });
    expect(res.body.text).toMatch(/^Accepted: restart worker in staging/);
    const notReady = await until(
      async () => {
        const r = await readiness();
        return r.status === 503 && r.body.checks.find((c) => c.name === 'audit' && !c.ok);
      },
      20_000,
      'the audit check to report the held record',
    );
    // /readyz names the failing check; what GitHub answered is in the log, never in the answer.
    expect(notReady).not.toHaveProperty('error');
    const logged = await bot.waitForLog(
      (l) => l.msg === 'readiness check failed' && l.dependency === 'audit',
    );
    expect(String(logged.error)).toMatch(/^1 audit record not written yet/);
    expect(String(logged.error)).toContain('401');
    expect(await heldMetric()).toBe(1);
    expect(auditRecords(world).some((r) => r.target === 'worker')).toBe(false);

    world.github.setAppPublicKey(pem('public', keys));
    await until(
      () => auditRecords(world).some((r) => r.target === 'worker'),
      30_000,
      'the held record to be written',
    );
    expect(auditRecords(world).filter((r) => r.target === 'worker')).toHaveLength(1);
    await until(async () => (await readiness()).status === 200, 10_000, 'readiness to recover');
    expect(await heldMetric()).toBe(0);
  });

  it("logs Octokit's lines as JSON through the bot's logger", () => {
    const notJson = bot.raw.filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
    expect(bot.lines.some((l) => l.component === 'octokit')).toBe(true);
  });
});
