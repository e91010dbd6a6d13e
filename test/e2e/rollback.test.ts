import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { auditRecords, imageOf, slash, startWorld, USERS, type World } from '../helpers/world.js';

function patchesTo(world: World, name: string) {
  return world.kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith(`/deployments/${name}`));
}

describe('/ops rollback, end to end through the bot process', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld();
    bot = await startBotProcess(world.env);
  });

  afterAll(async () => {
    const code = await bot?.stop('SIGTERM');
    await world?.close();
    expect(code).toBe(0);
  });

  it('rolls back to the previous revision, records it on GitHub and reports in the channel', async () => {
    expect(imageOf(world, 'api')).toBe('ghcr.io/acme/api:1.5.0');

    const res = await slash(bot.url, world, 'rollback api --env staging --reason "bad deploy"');
    expect(res.status).toBe(200);
    expect(res.body.response_type).toBe('ephemeral');
    expect(res.body.text).toMatch(/^Accepted: rollback api in staging \(job cmd-[0-9a-f]+\)\.$/);

    await world.kube.settle();
    await world.github.waitFor(() => auditRecords(world).find((r) => r.outcome === 'executed'), 10_000);
    expect(imageOf(world, 'api')).toBe('ghcr.io/acme/api:1.4.1');
    const patch = patchesTo(world, 'api')[0];
    expect(patch?.contentType).toBe('application/json-patch+json');

    const record = auditRecords(world).find((r) => r.outcome === 'executed')!;
    expect(record).toMatchObject({
      action: 'rollback',
      requester: { id: USERS.oncall.id, name: USERS.oncall.name },
      environment: 'staging',
      namespace: 'apps',
      target: 'api',
      reason: 'bad deploy',
      before: { revision: 3, images: ['api=ghcr.io/acme/api:1.5.0'] },
      after: { revision: 2, images: ['api=ghcr.io/acme/api:1.4.1'] },
      channel: { id: 'COPS', name: 'ops' },
    });
    const commit = world.github.commits('acme/ops-audit')[0]!;
    expect(commit.message).toMatch(/^rollback api in staging by @alice: executed/);

    const outcome = await world.slack.waitFor(() =>
      world.slack.messages('COPS').find((m) => m.text?.startsWith('Rolled back to revision 2')),
    );
    expect(JSON.stringify(outcome.blocks)).toContain('ghcr.io/acme/api:1.4.1');
    // One message per action: progress, if there was any to show, was updated in place.
    const jobId = /\(job (cmd-[0-9a-f]+)\)/.exec(res.body.text ?? '')?.[1] ?? '?';
    const mine = world.slack.messages('COPS').filter((m) => JSON.stringify(m.blocks).includes(jobId));
    expect(mine).toHaveLength(1);
  });

  it('runs a redelivered request once', async () => {
    const before = patchesTo(world, 'worker').length;
    const triggerId = 'redelivered.1.abc';
    const first = await slash(bot.url, world, 'rollback worker --env staging', { triggerId });
    const second = await slash(bot.url, world, 'rollback worker --env staging', { triggerId });
    expect(first.body.text).toMatch(/^Accepted/);
    expect(second.body.text).toMatch(/^Already accepted/);
    await world.github.waitFor(() => auditRecords(world).find((r) => r.target === 'worker'), 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(patchesTo(world, 'worker').length - before).toBe(1);
    expect(auditRecords(world).filter((r) => r.target === 'worker')).toHaveLength(1);
  });

  it('reports "already at that revision" as a no-op and changes nothing', async () => {
    const before = patchesTo(world, 'web').length;
    await slash(bot.url, world, 'rollback web --env staging --to 1');
    const record = await world.github.waitFor(
      () => auditRecords(world).find((r) => r.target === 'web'),
      10_000,
    );
    expect(record.outcome).toBe('noop');
    expect(patchesTo(world, 'web').length).toBe(before);
    await world.slack.waitFor(() =>
      world.slack.messages('COPS').find((m) => m.text?.includes('already at revision 1')),
    );
  });

  it('denies by default, says which rule would allow it, and audits the denial', async () => {
    const res = await slash(bot.url, world, 'rollback api --env staging', { user: USERS.developer });
    expect(res.status).toBe(200);
    expect(res.body.response_type).toBe('ephemeral');
    expect(res.body.text).toBe('Denied: rollback in staging needs role oncall, which you do not hold.');
    expect(JSON.stringify(res.body)).toContain('roles.oncall.can[0]');
    const denial = await world.github.waitFor(
      () =>
        auditRecords(world).find(
          (r) => r.outcome === 'denied' && (r.requester as { id: string }).id === USERS.developer.id,
        ),
      10_000,
    );
    expect(denial).toMatchObject({ action: 'rollback', environment: 'staging', target: 'api' });
  });

  it('grants roles through Slack user groups', async () => {
    // bob is not listed by id; he is in @sre-oncall.
    const res = await slash(bot.url, world, 'rollback worker --env staging --to 2', { user: USERS.oncall2 });
    expect(res.body.text).toMatch(/^Accepted/);
    await world.github.waitFor(
      () => auditRecords(world).find((r) => (r.requester as { id: string }).id === USERS.oncall2.id),
      10_000,
    );
  });

  it('answers bad input with usage help and queues nothing', async () => {
    const jobsBefore = bot.lines.filter((l) => l.msg === 'command finished').length;
    for (const text of [
      'rollback',
      'rollback api --env qa',
      'rollback api --env staging --to zero',
      'frobnicate',
      'rollback api --env prod',
    ]) {
      const res = await slash(bot.url, world, text);
      expect(res.status, text).toBe(200);
      expect(res.body.response_type).toBe('ephemeral');
      expect(res.body.text, text).not.toMatch(/^Accepted/);
    }
    const qa = await slash(bot.url, world, 'rollback api --env qa');
    expect(qa.body.text).toBe('There is no environment "qa". Known: staging, prod.');
    const prod = await slash(bot.url, world, 'rollback api --env prod');
    // Replies are mrkdwn: the < and > the message quotes are escaped, so Slack shows them as typed.
    expect(prod.body.text).toBe('prod is protected: say why with --reason "&lt;text&gt;".');
    const help = await slash(bot.url, world, 'help');
    expect(JSON.stringify(help.body)).toContain('/ops rollback <deployment> --env <env>');
    await new Promise((r) => setTimeout(r, 300));
    expect(bot.lines.filter((l) => l.msg === 'command finished').length).toBe(jobsBefore);
  });

  it('refuses a bad signature and a stale timestamp with 401, changing nothing', async () => {
    const kubeBefore = world.kube.requests.length;
    const bad = await slash(bot.url, world, 'rollback api --env staging', { secret: 'wrong-secret' });
    expect(bad.status).toBe(401);
    const stale = await slash(bot.url, world, 'rollback api --env staging', {
      timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    expect(stale.status).toBe(401);
    const future = await slash(bot.url, world, 'rollback api --env staging', {
      timestamp: Math.floor(Date.now() / 1000) + 6 * 60,
    });
    expect(future.status).toBe(401);
    const unsigned = await fetch(`${bot.url}/slack/events`, {
      method: 'POST',
      body: 'command=%2Fops&text=help',
    });
    expect(unsigned.status).toBe(401);
    const huge = await slash(bot.url, world, `help ${'x'.repeat(2 * 1024 * 1024)}`);
    expect(huge.status).toBe(413);
    await new Promise((r) => setTimeout(r, 300));
    expect(world.kube.requests.length).toBe(kubeBefore);
  });

  it('serves health, readiness and metrics', async () => {
    expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${bot.url}/readyz`);
    const body = (await ready.json()) as { checks: { name: string; ok: boolean }[] };
    expect(body.checks.map((c) => [c.name, c.ok])).toEqual([
      ['redis', true],
      ['slack', true],
      ['audit', true],
      // `start` runs the jobs on a worker thread beside the answering one; the unit is ready with it.
      ['worker', true],
      // The answering thread never calls the cluster or GitHub; the worker's checks say whether they answer.
      ['kubernetes', true],
      ['github', true],
    ]);
    expect(ready.status).toBe(200);
    expect((await fetch(`${bot.url}/no-such-path?x=1`)).status).toBe(404);
    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    expect(metrics).toMatch(/opsbot_commands_total\{verb="rollback",outcome="queued"\} \d+/);
    // How long Slack waited for its acks, timed by the bot; a path nobody serves is never a label.
    const acks = /^opsbot_http_request_duration_seconds_count\{route="slack",status="200"\} (\d+)$/m.exec(
      metrics,
    );
    expect(Number(acks?.[1])).toBeGreaterThan(0);
    expect(metrics).not.toContain('no-such-path');
    expect(metrics).toMatch(/^opsbot_audit_records_held 0$/m);
  });
});
