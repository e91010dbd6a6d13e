import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../faults/support.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { type RedisClusterNodes, startRedisCluster } from '../helpers/redis-topologies.js';
import { approvalIdIn, auditRecords, click, slash, startWorld, USERS, type World } from '../helpers/world.js';

const jobOf = (text: string | undefined) => /^Accepted: .*\(job (\S+)\)\.$/.exec(text ?? '')?.[1];

describe('Redis Cluster: the whole command path on three masters', () => {
  let cluster: RedisClusterNodes;
  let world: World;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    world = await startWorld();
  }, 60_000);

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
    await cluster?.stop();
  });

  it('accepts, queues, runs and audits, approvals included, with every key in one hash slot', async () => {
    const { REDIS_URL: _url, ...env } = world.env;
    bot = await startBotProcess({ ...env, REDIS_CLUSTER_NODES: cluster.nodes });
    const prefix = `{${world.env.OPSBOT_QUEUE_PREFIX}}`;

    // Target locks and the queue: three actions on one deployment and one on another.
    const acks = await Promise.all(
      ['scale web 3', 'scale web 4', 'restart worker', 'scale web 5'].map((c) =>
        slash(bot!.url, world, `${c} --env staging`),
      ),
    );
    const jobs = acks.map((a) => jobOf(a.body.text));
    expect(jobs.every(Boolean), JSON.stringify(acks.map((a) => a.body.text))).toBe(true);

    // An approval: the decision and the job it starts are written by one script on two keys.
    const rollback = await slash(bot.url, world, 'rollback api --env prod --reason "bad deploy"');
    const rollbackJob = jobOf(rollback.body.text);
    expect(rollbackJob, rollback.body.text).toBeDefined();
    const approvalId = await until(() => approvalIdIn(world), 15_000, 'the approval request');
    expect(
      await click(bot.url, world, { user: USERS.oncall2, actionId: 'approval.approve', value: approvalId }),
    ).toBe(200);

    // The approved run is a job of its own, named after the request's.
    const all = [...(jobs as string[]), `${rollbackJob}-run`];
    await until(
      () =>
        all.every((id) =>
          auditRecords(world).some((r) => r.jobId === id && ['executed', 'noop'].includes(String(r.outcome))),
        ),
      45_000,
      'an executed record for every command',
    ).catch((err: Error) => {
      const trouble = bot!.lines.filter((l) => l.level >= 40).map((l) => JSON.stringify(l).slice(0, 400));
      const seen = auditRecords(world).map((r) => `${r.jobId} ${r.action} ${r.outcome}`);
      throw new Error(
        `${err.message}\nrecords:\n${seen.join('\n')}\nwarnings:\n${trouble.slice(-15).join('\n')}`,
      );
    });
    for (const id of all) {
      const executed = auditRecords(world).filter(
        (r) => r.jobId === id && r.outcome !== 'requested' && r.outcome !== 'approved',
      );
      expect(executed, id).toHaveLength(1);
    }
    expect(
      auditRecords(world).find((r) => r.jobId === `${rollbackJob}-run` && r.outcome === 'executed'),
    ).toMatchObject({
      action: 'rollback',
      environment: 'prod',
      target: 'api',
      approver: { id: USERS.oncall2.id },
    });
    // The three scales of web ran one at a time; the last to run set the final count.
    const lastWebScale = auditRecords(world)
      .filter((r) => r.action === 'scale' && r.target === 'web' && r.outcome === 'executed')
      .sort((a, b) => String(a.time).localeCompare(String(b.time)))
      .at(-1) as { after: { replicas: number } };
    expect((world.kube.getDeployment('apps', 'web') as { spec: { replicas: number } }).spec.replicas).toBe(
      lastWebScale.after.replicas,
    );

    // No script or transaction was refused for spanning slots.
    expect(bot.raw.filter((l) => /CROSSSLOT|MOVED|ASK /.test(l))).toEqual([]);
    // Every key opsbot, BullMQ and the GitHub limiter (Bottleneck's b_<id>_…) wrote carries the
    // tag, so all of them share one slot.
    const client = new Cluster(
      cluster.nodes.split(',').map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })),
    );
    try {
      await client.ping();
      const keys: string[] = [];
      for (const node of client.nodes('master')) keys.push(...(await (node as Redis).keys('*')));
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.filter((k) => !k.startsWith(`${prefix}:`) && !/^b_octokit-[a-z]+-/.test(k))).toEqual([]);
      expect(keys.filter((k) => !k.includes(prefix))).toEqual([]);
      const slots = new Set(await Promise.all(keys.map((k) => client.cluster('KEYSLOT', k))));
      expect(slots.size).toBe(1);
    } finally {
      client.disconnect();
    }
  }, 90_000);
});
