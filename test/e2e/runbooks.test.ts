import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import {
  AUDIT_REPO,
  approvalIdIn,
  auditRecords,
  click,
  slash,
  startWorld,
  USERS,
  type World,
} from '../helpers/world.js';

const CONFIG = `
environments:
  staging: { context: staging, namespace: apps }
  prod: { context: prod, namespace: apps, protected: true, scale: { min: 2, max: 50 } }
roles:
  oncall:
    members: [${USERS.oncall.id}, "@sre-oncall"]
    can:
      - { actions: [run, rollback, restart, scale, status, history], environments: [staging, prod] }
    approve: [prod]
  developer:
    members: ["@engineering"]
    can:
      - { actions: [run, status, history, restart], environments: [staging] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
rollout: { timeout: 30s, pollInterval: 1s }
`;

/** Test-only: a check that fails, so the run stops there and runs its onFailure steps. */
const FAILING = `name: failing-check
description: Restart, then a health check that fails
params:
  deployment: { type: deployment }
  health_url: { type: string }
steps:
  - kind: restart
    deployment: "{{deployment}}"
  - kind: http-check
    url: "{{health_url}}"
  - kind: message
    text: never reached
onFailure:
  - kind: message
    text: "{{deployment}} is unhealthy: paging the owner"
  - kind: status
    deployment: "{{deployment}}"
allowHosts: ["127.0.0.1"]
`;

/** Test-only: an http-check whose URL is a parameter, allowed to reach *.example.com only. */
const PROBE = `name: probe
description: Check that a URL answers
params:
  url: { type: string }
allowHosts: ["*.example.com"]
steps:
  - kind: http-check
    url: "{{url}}"
`;

interface Dep {
  spec: {
    replicas: number;
    template: {
      spec: { containers: { image: string }[] };
      metadata?: { annotations?: Record<string, string> };
    };
  };
}

describe('runbooks', () => {
  let world: World;
  let bot: BotProcess;
  let health: Server;
  let healthUrl: string;
  const healthHits: string[] = [];

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG, rolloutStepMs: 30 });
    // The default runbooks folder sits beside opsbot.yml: the shipped examples, plus one test-only runbook.
    const dir = join(world.dir, 'runbooks');
    mkdirSync(dir);
    for (const file of ['rollback-on-error-rate.yml', 'scale-out.yml', 'restart-stuck-worker.yml']) {
      // The health server of these tests is on 127.0.0.1: allowed by name, as a user allows an in-cluster host.
      const text = readFileSync(join(import.meta.dirname, '../../runbooks', file), 'utf8');
      writeFileSync(
        join(dir, file),
        text.replace('allowHosts: ["*.example.com"]', 'allowHosts: ["127.0.0.1"]'),
      );
    }
    writeFileSync(join(dir, 'failing-check.yml'), FAILING);
    writeFileSync(join(dir, 'probe.yml'), PROBE);
    health = createServer((req, res) => {
      healthHits.push(req.url ?? '');
      res.statusCode = req.url?.startsWith('/sick') ? 503 : 200;
      res.end(res.statusCode === 200 ? 'ok' : 'unhealthy');
    });
    await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
    healthUrl = `http://127.0.0.1:${(health.address() as AddressInfo).port}`;
    bot = await startBotProcess(world.env);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
    await new Promise((resolve) => health?.close(resolve));
  });

  const jobOf = (text: string | undefined) => /job (cmd-[0-9a-f]+)/.exec(text ?? '')?.[1] ?? '';
  /** The run's own record (action "run"), once it is committed, with the step records of the same job. */
  const recordsOf = async (jobId: string) => {
    const run = await world.github.waitFor(
      () => auditRecords(world).find((r) => r.jobId === jobId && r.action === 'run'),
      30_000,
    );
    const steps = auditRecords(world)
      .filter((r) => r.jobId === jobId && r.action !== 'run')
      .sort((a, b) => String(a.id).localeCompare(String(b.id)));
    return { run, steps };
  };
  const messageOf = (jobId: string) =>
    world.slack
      .messages('COPS')
      .find((m) => m.versions.some((v) => JSON.stringify(v.blocks).includes(jobId)))!;
  const mutatingRequests = () =>
    world.kube.requests.filter(
      (r) => ['PATCH', 'PUT', 'POST', 'DELETE'].includes(r.method) && !r.query.dryRun,
    );

  it('rollback-on-error-rate: rolls back, waits for the rollout and checks health, in one updating message', async () => {
    const before = (world.kube.getDeployment('apps', 'api') as Dep).spec.template.spec.containers[0]!.image;
    expect(before).toBe('ghcr.io/acme/api:1.5.0');
    const ack = await slash(
      bot.url,
      world,
      `run rollback-on-error-rate deployment=api health_url=${healthUrl}/healthz --env staging`,
    );
    expect(ack.body.text).toMatch(/^Accepted: run rollback-on-error-rate in staging/);
    const jobId = jobOf(ack.body.text);
    const { run, steps } = await recordsOf(jobId);

    expect(run).toMatchObject({ outcome: 'executed', action: 'run', target: 'rollback-on-error-rate' });
    expect(run.message).toBe('rollback-on-error-rate finished: 4 of 4 steps done.');
    expect(steps.map((s) => [s.action, s.outcome])).toEqual([
      ['rollback', 'executed'],
      ['status', 'executed'],
      ['run.http-check', 'executed'],
      ['run.message', 'executed'],
    ]);
    expect(steps[0]).toMatchObject({
      target: 'api',
      environment: 'staging',
      before: { revision: 3 },
      after: { revision: 2 },
      rollout: { state: 'complete' },
    });
    const image = (world.kube.getDeployment('apps', 'api') as Dep).spec.template.spec.containers[0]!.image;
    expect(image).toBe('ghcr.io/acme/api:1.4.1');
    expect(healthHits).toContain('/healthz');

    // One message, updated as the steps went by, ending with every step ticked off.
    const msg = messageOf(jobId);
    const texts = msg.versions.map((v) => v.text);
    expect(texts.some((t) => t?.startsWith('running step 1'))).toBe(true);
    // While step 1 ran, the later steps were listed as still to come.
    const early = JSON.stringify(msg.versions.find((v) => v.text?.startsWith('running step 1'))?.blocks);
    expect(early).toContain(':white_circle: 4. Message');
    expect(texts.at(-1)).toBe('rollback-on-error-rate finished: 4 of 4 steps done.');
    const final = JSON.stringify(msg.versions.at(-1)?.blocks);
    expect(final).toContain(':white_check_mark: 1. Roll back api in staging');
    expect(final).toContain(':white_check_mark: 3. Health check after the rollback');
    expect(world.slack.stats().maxPerChannelPerSecond).toBeLessThanOrEqual(2);
  });

  it('scale-out: scales out through the scale subresource, waits, and reports status', async () => {
    const ack = await slash(bot.url, world, 'run scale-out deployment=worker replicas=4 --env staging');
    const { run, steps } = await recordsOf(jobOf(ack.body.text));
    expect(run).toMatchObject({
      outcome: 'executed',
      args: { runbook: 'scale-out', params: { deployment: 'worker', replicas: '4' } },
    });
    expect(steps.map((s) => s.action)).toEqual(['scale', 'status', 'status', 'run.message']);
    expect(steps[0]).toMatchObject({ before: { replicas: 2 }, after: { replicas: 4 } });
    expect(steps[3]?.message).toContain('worker now runs 4 replicas');
    expect((world.kube.getDeployment('apps', 'worker') as Dep).spec.replicas).toBe(4);
  });

  it('restart-stuck-worker: restarts with a rolling restart and checks the worker is healthy again', async () => {
    const ack = await slash(
      bot.url,
      world,
      `run restart-stuck-worker health_url=${healthUrl}/worker/healthz --env staging`,
    );
    const { run, steps } = await recordsOf(jobOf(ack.body.text));
    expect(run).toMatchObject({ outcome: 'executed' });
    expect(steps.map((s) => s.action)).toEqual(['restart', 'status', 'run.http-check', 'status']);
    const worker = world.kube.getDeployment('apps', 'worker') as Dep;
    expect(worker.spec.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']).toBeDefined();
    expect(healthHits).toContain('/worker/healthz');
  });

  it('stops at the first failing step and runs onFailure', async () => {
    const ack = await slash(
      bot.url,
      world,
      `run failing-check deployment=web health_url=${healthUrl}/sick --env staging`,
    );
    const jobId = jobOf(ack.body.text);
    const { run, steps } = await recordsOf(jobId);
    expect(run).toMatchObject({ outcome: 'failed', action: 'run' });
    expect(run.message).toMatch(
      /^failing-check failed at step 2 .*answered 503, expected 200\. onFailure: 2 of 2 steps done\.$/,
    );
    expect(steps.map((s) => [s.id, s.action, s.outcome])).toEqual([
      [`${jobId}-fail1`, 'run.message', 'executed'],
      [`${jobId}-fail2`, 'status', 'executed'],
      [`${jobId}-step1`, 'restart', 'executed'],
      [`${jobId}-step2`, 'run.http-check', 'failed'],
    ]);
    const final = JSON.stringify(messageOf(jobId).versions.at(-1)?.blocks);
    expect(final).toContain(':heavy_minus_sign: 3. Message');
    expect(final).toContain('web is unhealthy: paging the owner');
  });

  it('--dry-run shows what would change, from what to what, and changes nothing', async () => {
    const writes = mutatingRequests().length;
    const ack = await slash(
      bot.url,
      world,
      'run scale-out deployment=web replicas=8 --env staging --dry-run',
    );
    const jobId = jobOf(ack.body.text);
    const { run, steps } = await recordsOf(jobId);
    expect(run).toMatchObject({ outcome: 'noop', args: { dryRun: true } });
    expect(steps).toEqual([]);
    const msg = messageOf(jobId);
    expect(msg.versions.at(-1)?.text).toBe('Dry run of scale-out in staging: nothing was changed.');
    const blocks = JSON.stringify(msg.versions.at(-1)?.blocks);
    expect(blocks).toContain('Replicas: 2 → 8');
    expect(blocks).toContain('Would wait up to');

    const rollbackDry = await slash(
      bot.url,
      world,
      `run rollback-on-error-rate deployment=api health_url=${healthUrl}/healthz --env staging --dry-run`,
    );
    const rb = await recordsOf(jobOf(rollbackDry.body.text));
    expect(rb.run).toMatchObject({ outcome: 'noop' });
    expect(JSON.stringify(messageOf(jobOf(rollbackDry.body.text)).versions.at(-1)?.blocks)).toContain(
      'Image: api=ghcr.io/acme/api:1.4.1 → api=ghcr.io/acme/api:1.5.0',
    );
    // Server-side dry runs were sent; nothing else was written.
    expect(world.kube.requests.some((r) => r.method === 'PATCH' && r.query.dryRun === 'All')).toBe(true);
    expect(mutatingRequests().length).toBe(writes);
    expect((world.kube.getDeployment('apps', 'web') as Dep).spec.replicas).toBe(2);
  });

  it('refuses a run when one step is not granted, before anything is queued, and audits the denial', async () => {
    const writes = mutatingRequests().length;
    // The developer may run, restart and read in staging, but not scale.
    const ack = await slash(bot.url, world, 'run scale-out deployment=web --env staging', {
      user: USERS.developer,
    });
    expect(ack.body.text).toMatch(/^Denied: scale in staging needs role oncall/);
    const denial = await world.github.waitFor(
      () => auditRecords(world).find((r) => r.outcome === 'denied' && r.action === 'run'),
      15_000,
    );
    expect(denial).toMatchObject({ requester: { id: USERS.developer.id }, environment: 'staging' });
    expect(mutatingRequests().length).toBe(writes);
  });

  it('checks parameters in the ack and queues nothing on bad input', async () => {
    const cases: [string, RegExp][] = [
      [
        'run scale-out deployment=web replicas=5 --env staging',
        /replicas must be one of 4, 6, 8, 10, 12; got "5"/,
      ],
      ['run scale-out --env staging', /scale-out needs deployment=&lt;deployment&gt;/],
      ['run scale-out deployment=web colour=red --env staging', /has no parameter "colour"/],
      ['run no-such-runbook --env staging', /There is no runbook "no-such-runbook"\. Known: .*scale-out/],
      ['run scale-out deployment=web', /--env is required/],
    ];
    for (const [text, expected] of cases) {
      const ack = await slash(bot.url, world, text);
      expect(ack.body.text).toMatch(expected);
      expect(ack.body.text).not.toMatch(/Accepted/);
    }
  });

  it('never fetches a URL outside the allowHosts of its runbook: loopback and metadata addresses are refused in the ack', async () => {
    const hitsBefore = healthHits.length;
    for (const url of [
      `${healthUrl}/steal`,
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/',
    ]) {
      const ack = await slash(bot.url, world, `run probe url=${url} --env staging`);
      expect(ack.body.text, url).toMatch(
        /^probe may not check (127\.0\.0\.1|169\.254\.169\.254|fd00:ec2::254): its allowHosts are \*\.example\.com\.$/,
      );
    }
    // Allowing one host by name (127.0.0.1 here) allows no other, whatever an alert label or a user puts in health_url.
    const shipped = await slash(
      bot.url,
      world,
      `run restart-stuck-worker health_url=http://169.254.169.254/latest/meta-data/ --env staging`,
    );
    expect(shipped.body.text).toMatch(/^restart-stuck-worker may not check 169\.254\.169\.254/);
    await new Promise((r) => setTimeout(r, 300));
    expect(healthHits.length).toBe(hitsBefore);
  });

  it('in a protected environment, needs a reason and a second person who sees the dry-run plan', async () => {
    const noReason = await slash(bot.url, world, 'run scale-out deployment=web replicas=4 --env prod');
    expect(noReason.body.text).toMatch(/needs a second person's approval here: say why with --reason/);

    const ack = await slash(
      bot.url,
      world,
      'run scale-out deployment=web replicas=4 --env prod --reason "load spike"',
    );
    expect(ack.body.text).toMatch(/^Accepted: run scale-out in prod/);
    const approvalId = await world.slack.waitFor(() => approvalIdIn(world), 15_000);
    const request = world.slack
      .messages('COPS')
      .find((m) => m.text?.startsWith('Approval needed: run scale-out'))!;
    expect(JSON.stringify(request.blocks)).toContain('Replicas: 2 → 4');
    expect((world.kube.getDeployment('apps', 'web') as Dep).spec.replicas).toBe(2);

    // The request is stored right after its message is posted; a person clicks later than a test does.
    await world.github.waitFor(
      () => auditRecords(world).find((r) => r.outcome === 'requested' && r.environment === 'prod'),
      15_000,
    );
    expect(await click(bot.url, world, { actionId: 'approval.approve', value: approvalId })).toBe(200);
    const run = await world.github.waitFor(
      () =>
        auditRecords(world).find(
          (r) => r.action === 'run' && r.environment === 'prod' && r.outcome === 'executed',
        ),
      30_000,
    );
    expect(run).toMatchObject({ approver: { id: USERS.oncall2.id }, reason: 'load spike' });
    expect((world.kube.getDeployment('apps', 'web') as Dep).spec.replicas).toBe(4);
  }, 60_000);

  it('opsbot validate checks the runbooks with the config, and a bad runbook stops the bot at start-up', () => {
    const dir = join(world.dir, 'bad');
    mkdirSync(join(dir, 'runbooks'), { recursive: true });
    writeFileSync(join(dir, 'opsbot.yml'), CONFIG);
    writeFileSync(join(dir, 'runbooks', 'broken.yml'), FAILING.replace('kind: http-check', 'kind: ping'));
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['dist/src/cli.js', ...args], {
        env: {
          ...world.env,
          PATH: process.env.PATH ?? '',
          OPSBOT_CONFIG: join(dir, 'opsbot.yml'),
          PORT: '0',
        },
        encoding: 'utf8',
        timeout: 20_000,
      });
    const where = `${join(dir, 'runbooks', 'broken.yml')}:9:11 steps[1].kind: unknown step kind "ping"`;

    const validate = run(['validate', join(dir, 'opsbot.yml')]);
    expect(validate.stdout).toContain('opsbot.yml: OK');
    expect(validate.status).toBe(1);
    expect(validate.stderr).toContain(where);
    const start = run(['start']);
    expect(start.status).toBe(1);
    expect(start.stderr).toContain(where);
  }, 60_000);
});
