/**
 * /ops rollback plans from the worker's watch cache: the PATCH is the first request it makes to the
 * API server. A cache that lags a change cannot make it wrong: the PATCH is guarded by
 * resourceVersion, a 409 plans again from the server, and "nothing to do" is confirmed there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { auditRecords, imageOf, slash, startWorld, type World } from '../helpers/world.js';

type Manifest = { spec: { template: { spec: { containers: { image: string }[] } } } };

/** A new revision, deployed as `kubectl set image` would, behind the bot's back. */
function deploy(world: World, name: string, image: string): void {
  const live = world.kube.getDeployment('apps', name) as unknown as Manifest;
  live.spec.template.spec.containers[0]!.image = image;
  world.kube.applyDeployment('apps', live, { settle: true });
}

const isWatch = (r: { query: Record<string, string> }) => r.query.watch === 'true' || r.query.watch === '1';

async function executed(world: World, target: string, count: number) {
  return world.github.waitFor(() => {
    const done = auditRecords(world).filter((r) => r.target === target && r.action === 'rollback');
    return done.length >= count ? done.at(-1) : undefined;
  }, 15_000);
}

describe('/ops rollback and the watch cache', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld();
    bot = await startBotProcess(world.env);
    // Both environments (two contexts) watch deployments and replica sets.
    for (const context of ['staging', 'prod'])
      for (const resource of ['deployments', 'replicasets'])
        await bot.waitForLog(
          (l) => l.msg === 'watch cache in sync' && l.context === context && l.resource === resource,
          20_000,
        );
  });

  afterAll(async () => {
    await bot?.stop('SIGTERM');
    await world?.close();
  });

  it('sends the PATCH as its first request to the API server', async () => {
    const from = world.kube.requests.length;
    const res = await slash(bot.url, world, 'rollback worker --env staging --reason "bad deploy"');
    expect(res.body.text).toMatch(/^Accepted: rollback worker in staging/);
    const record = await executed(world, 'worker', 1);
    expect(record).toMatchObject({ outcome: 'executed', after: { revision: 1 } });
    expect(imageOf(world, 'worker')).toBe('ghcr.io/acme/worker:2.0.0');

    // What the rollback reads (a readiness probe's GET /version is not its business).
    const sent = world.kube.requests
      .slice(from)
      .filter((r) => !isWatch(r) && /\/(deployments|replicasets|pods)\b/.test(r.path));
    const firstPatch = sent.findIndex((r) => r.method === 'PATCH');
    expect(firstPatch).toBeGreaterThanOrEqual(0);
    expect(sent.slice(0, firstPatch).map((r) => `${r.method} ${r.path}`)).toEqual([]);
  });

  it('plans again from the server when the cache lags a deploy: the PATCH is refused, nothing is lost', async () => {
    // The watch stalls (as a slow apiserver or a network hiccup would), and a deploy lands meanwhile.
    const release = world.kube.holdWatchEvents();
    deploy(world, 'api', 'ghcr.io/acme/api:1.6.0');
    const from = world.kube.requests.length;
    const res = await slash(bot.url, world, 'rollback api --env staging --reason "1.6.0 is broken"');
    expect(res.body.text).toMatch(/^Accepted: rollback api in staging/);
    const record = await executed(world, 'api', 1);
    release();

    // Back to 1.5.0, the revision before the deploy the cache had not seen, not to 1.4.1.
    expect(imageOf(world, 'api')).toBe('ghcr.io/acme/api:1.5.0');
    expect(record).toMatchObject({
      outcome: 'executed',
      before: { revision: 4, images: ['api=ghcr.io/acme/api:1.6.0'] },
      after: { revision: 3, images: ['api=ghcr.io/acme/api:1.5.0'] },
    });
    const patches = world.kube.requests.slice(from).filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(2);
    const reply = await world.slack.waitFor(() =>
      world.slack.messages('COPS').find((m) => m.text?.startsWith('Rolled back to revision 3')),
    );
    expect(JSON.stringify(reply.blocks)).toContain('from revision 4 (api=ghcr.io/acme/api:1.6.0)');
  });

  it('confirms "already there" with the server before saying it', async () => {
    // The cache still shows web at its only revision; the server has a new one.
    const release = world.kube.holdWatchEvents();
    deploy(world, 'web', 'ghcr.io/acme/web:3.3.0');
    const res = await slash(bot.url, world, 'rollback web --env staging --to 1 --reason "3.3.0 is broken"');
    expect(res.body.text).toMatch(/^Accepted: rollback web in staging/);
    const record = await executed(world, 'web', 1);
    release();
    expect(record).toMatchObject({ outcome: 'executed', before: { revision: 2 }, after: { revision: 1 } });
    expect(imageOf(world, 'web')).toBe('ghcr.io/acme/web:3.2.0');
  });
});
