import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { AUDIT_REPO, slash, startWorld, USERS, type World } from '../helpers/world.js';
import { freePort, generationOf, recordsFor, sleep, until, writesTo } from './support.js';

const CONFIG = `
environments:
  staging: { context: staging, namespace: apps }
  dr: { context: dr, namespace: apps }
roles:
  oncall:
    members: [${USERS.oncall.id}]
    can:
      - { actions: [rollback, restart, scale, status, history], environments: [staging, dr] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
`;

interface Kubeconfig {
  clusters: { name: string; cluster: { server: string } }[];
  contexts: { name: string; context: { cluster: string } }[];
}

describe('Kubernetes faults', () => {
  let world: World;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG, rolloutStepMs: 100 });
    // Context "dr" points at a port nothing listens on: the API server is unreachable there.
    const kubeconfig = parse(
      world.kube.kubeconfigYaml([{ name: 'staging' }, { name: 'dr' }], 'staging'),
    ) as Kubeconfig;
    const live = kubeconfig.clusters[0]!;
    kubeconfig.clusters.push({
      name: 'unreachable',
      cluster: { ...live.cluster, server: `http://127.0.0.1:${await freePort()}` },
    });
    const dr = kubeconfig.contexts.find((c) => c.name === 'dr')!;
    dr.context = { ...dr.context, cluster: 'unreachable' };
    const file = join(world.dir, 'kubeconfig-dr');
    writeFileSync(file, stringify(kubeconfig));
    bot = await startBotProcess({ ...world.env, KUBECONFIG: file });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('retries a patch answered 409 on fresh state, and applies it once', async () => {
    const generation = generationOf(world, 'web');
    world.kube.failNext({
      method: 'PATCH',
      path: /\/deployments\/web$/,
      status: 409,
      reason: 'Conflict',
      message:
        'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again',
    });
    const res = await slash(bot!.url, world, 'restart web --env staging');
    expect(res.body.text).toMatch(/^Accepted/);
    const record = await until(() => recordsFor(world, 'web')[0], 30_000, 'the audit record');
    await sleep(500);

    // Two PATCHes reached the API: the refused one and the one that applied.
    const patches = writesTo(world, 'web');
    expect(patches).toHaveLength(2);
    const [refused, applied] = patches as [(typeof patches)[0], (typeof patches)[0]];
    const reads = world.kube.requests.filter(
      (r) =>
        r.method === 'GET' && r.path.endsWith('/deployments/web') && r.at >= refused.at && r.at <= applied.at,
    );
    expect(reads.length, 'the deployment is read again before the retry').toBeGreaterThan(0);
    expect(generationOf(world, 'web') - generation).toBe(1);
    expect(recordsFor(world, 'web')).toHaveLength(1);
    expect(record.outcome).toBe('executed');
    const versions =
      world.slack.messages('COPS').find((m) => m.text?.startsWith('Restarted web'))?.versions ?? [];
    expect(versions.some((v) => v.text?.startsWith('Retrying:'))).toBe(true);
  }, 60_000);

  it('reports a rollback as executed when the API answers 503 while its rollout is watched', async () => {
    // Slow rollouts keep the job watching for a while after its PATCH; the fault lands in that window.
    const generation = generationOf(world, 'api');
    const res = await slash(bot!.url, world, 'rollback api --env staging --reason "503 test"');
    expect(res.body.text).toMatch(/^Accepted/);
    await until(() => writesTo(world, 'api').length > 0, 20_000, 'the rollback PATCH');
    world.kube.failNext({ method: 'GET', path: /\/deployments\/api$/, status: 503, times: 2 });
    const record = await until(() => recordsFor(world, 'api')[0], 30_000, 'the audit record');
    await sleep(500);

    expect(record.outcome).toBe('executed');
    expect(String(record.message)).toMatch(/^Rolled back to revision 2; rollout complete/);
    expect(record).toMatchObject({ before: { revision: 3 }, after: { revision: 2 } });
    expect(recordsFor(world, 'api')).toHaveLength(1);
    expect(writesTo(world, 'api')).toHaveLength(1);
    expect(generationOf(world, 'api') - generation).toBe(1);
    const msg = world.slack.messages('COPS').find((m) => m.text?.startsWith('Rolled back to revision 2'));
    expect(msg?.text).toMatch(/rollout complete/);
  }, 60_000);

  it('tells the user while it retries an unreachable API, then fails clearly with one failed record', async () => {
    const before = world.kube.requests.length;
    const res = await slash(bot!.url, world, 'restart worker --env dr');
    expect(res.body.text).toMatch(/^Accepted: restart worker in dr/);
    const record = await until(
      () => recordsFor(world, 'worker').find((r) => r.environment === 'dr'),
      45_000,
      'the failed record',
    );
    await sleep(500);
    expect(record.outcome).toBe('failed');
    expect(String(record.message)).toMatch(/^Failed: The Kubernetes API is unreachable/);
    expect(recordsFor(world, 'worker')).toHaveLength(1);
    // Nothing reached the live API server for this job.
    expect(
      world.kube.requests.slice(before).filter((r) => r.path.includes('/deployments/worker')),
    ).toHaveLength(0);

    const msg = world.slack.messages('COPS').find((m) => m.text?.startsWith('Failed: The Kubernetes API'));
    expect(msg).toBeDefined();
    const texts = msg!.versions.map((v) => v.text ?? '');
    expect(texts.some((t) => t.startsWith('Retrying: The Kubernetes API is unreachable'))).toBe(true);
    expect(JSON.stringify(msg!.blocks)).toMatch(/restart failed: The Kubernetes API is unreachable/);
  }, 60_000);
});
