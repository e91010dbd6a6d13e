import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import {
  approvalIdIn,
  auditRecords,
  click,
  DEFAULT_CONFIG,
  imageOf,
  slash,
  startWorld,
  USERS,
  type World,
} from '../helpers/world.js';

// Only alice may use break-glass; bob is on call (through @sre-oncall) but may not.
const CONFIG = `${DEFAULT_CONFIG.replace('roles:', `roles:\n  commander:\n    members: [${USERS.oncall.id}]\n    emergency: [prod]`)}
approvals: { ttl: 3s }
rollout: { timeout: 20s, pollInterval: 1s }
`;

function records(world: World, jobPrefix: string) {
  return auditRecords(world).filter((r) => String(r.jobId ?? r.id).startsWith(jobPrefix));
}

describe('two-person approval in a protected environment', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG });
    bot = await startBotProcess(world.env);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  async function request(text: string, user = USERS.oncall) {
    const ack = await slash(bot.url, world, text, { user });
    const jobId = /job (cmd-[0-9a-f]+)/.exec(ack.body.text ?? '')?.[1];
    expect(jobId, ack.body.text).toBeDefined();
    const approvalId = await world.slack.waitFor(() => {
      const id = approvalIdIn(world);
      return id && records(world, jobId!).some((r) => r.outcome === 'requested') ? id : undefined;
    }, 10_000);
    return { ack, jobId: jobId!, approvalId };
  }

  it('posts the dry-run plan with buttons, refuses the requester and replays, and runs once approved', async () => {
    const { ack, jobId, approvalId } = await request(
      'rollback api --env prod --reason "error rate after 1.5.0"',
    );
    expect(ack.body.text).toMatch(/^Accepted: rollback api in prod/);
    expect(JSON.stringify(ack.body)).toContain('second person to approve');
    const approval = world.slack
      .messages('COPS')
      .find((m) => m.text === 'Approval needed: rollback api in prod')!;
    const shown = JSON.stringify(approval.blocks);
    expect(shown).toContain('Image: api=ghcr.io/acme/api:1.5.0 → api=ghcr.io/acme/api:1.4.1');
    expect(shown).toContain('Replicas: 3 → 3');
    expect(world.kube.requests.some((r) => r.method === 'PATCH' && r.query.dryRun === 'All')).toBe(true);
    expect(imageOf(world, 'api')).toBe('ghcr.io/acme/api:1.5.0');

    // The requester cannot approve their own request.
    expect(
      await click(bot.url, world, { user: USERS.oncall, actionId: 'approval.approve', value: approvalId }),
    ).toBe(200);
    // A developer holds no approve right in prod.
    await click(bot.url, world, { user: USERS.developer, actionId: 'approval.approve', value: approvalId });
    // A click with a bad signature is refused before anything is read.
    expect(
      await click(bot.url, world, { actionId: 'approval.approve', value: approvalId, secret: 'forged' }),
    ).toBe(401);
    await world.github.waitFor(
      () => auditRecords(world).filter((r) => r.outcome === 'refused').length >= 3,
      10_000,
    );
    expect(imageOf(world, 'api')).toBe('ghcr.io/acme/api:1.5.0');

    // bob is on call through @sre-oncall and may approve in prod.
    await click(bot.url, world, { user: USERS.oncall2, actionId: 'approval.approve', value: approvalId });
    await world.github.waitFor(() => records(world, jobId).find((r) => r.outcome === 'executed'), 15_000);
    expect(imageOf(world, 'api')).toBe('ghcr.io/acme/api:1.4.1');

    // Replaying the approval does nothing more.
    await click(bot.url, world, { user: USERS.oncall2, actionId: 'approval.approve', value: approvalId });
    const refusals = await world.github.waitFor(() => {
      const found = auditRecords(world).filter((r) => r.outcome === 'refused');
      return found.length >= 4 ? found : undefined;
    }, 10_000);
    expect(refusals.map((r) => r.message)).toEqual(
      expect.arrayContaining([
        'Refused approve click: you cannot approve your own request',
        'Refused approve click: approving in prod needs role oncall',
        'Refused approve click: this request is already approved by @bob',
        'Refused a click with a bad Slack signature on this approval request',
      ]),
    );
    const forged = refusals.find((r) => r.requester && (r.requester as { id: string }).id === 'unverified')!;
    expect(forged.args).toMatchObject({ approvalId, claimedUser: USERS.oncall2.id });

    const executed = records(world, jobId).find((r) => r.outcome === 'executed')!;
    expect(executed).toMatchObject({
      requester: { id: USERS.oncall.id },
      approver: { id: USERS.oncall2.id },
      reason: 'error rate after 1.5.0',
      before: { images: ['api=ghcr.io/acme/api:1.5.0'] },
      after: { images: ['api=ghcr.io/acme/api:1.4.1'] },
      rollout: { state: 'complete' },
    });
    expect(
      records(world, jobId)
        .map((r) => r.outcome)
        .sort(),
    ).toEqual(['approved', 'executed', 'requested']);
    // The approval message became the progress message: one message per action.
    const final = world.slack.messages('COPS').find((m) => m.ts === approval.ts)!;
    expect(final.text).toMatch(/^Rolled back to revision 2; rollout complete/);
  });

  it('refuses an approved action whose target changed after the plan', async () => {
    const { jobId, approvalId } = await request('restart worker --env prod --reason "stuck consumers"');
    // Someone else scales the deployment between plan and approval.
    const d = world.kube.getDeployment('apps', 'worker') as { spec: { replicas: number } };
    world.kube.applyDeployment('apps', {
      ...(world.kube.getDeployment('apps', 'worker') as object),
      spec: { ...d.spec, replicas: 4 },
    });
    await click(bot.url, world, { actionId: 'approval.approve', value: approvalId });
    const failed = await world.github.waitFor(
      () => records(world, jobId).find((r) => r.outcome === 'failed'),
      10_000,
    );
    expect(String(failed.message)).toMatch(/changed after the plan was approved/);
    expect(
      world.kube.requests.filter(
        (r) => r.method === 'PATCH' && r.path.endsWith('/worker') && !r.query.dryRun,
      ),
    ).toHaveLength(0);
  });

  it('runs an approved rollback when only the status moved while it waited, and plans again after a 409', async () => {
    const { jobId, approvalId } = await request(
      'rollback worker --env prod --reason "consumers stuck on 2.1.0"',
    );
    const before = world.kube.getDeployment('apps', 'worker')!;
    // A pod crashes and comes back: the controller writes status twice, as it does all day in a real cluster.
    world.kube.setPodTrouble('apps', 'worker', { notReady: 1 });
    world.kube.setPodTrouble('apps', 'worker', {});
    const after = world.kube.getDeployment('apps', 'worker')!;
    expect(after.metadata.resourceVersion).not.toBe(before.metadata.resourceVersion);
    expect(after.metadata.generation).toBe(before.metadata.generation);
    // And one more lands between the bot's read and its PATCH, whose resourceVersion is then stale: 409.
    world.kube.beforeNext({ method: 'PATCH', path: /deployments\/worker$/ }, () => {
      world.kube.setPodTrouble('apps', 'worker', { notReady: 1 });
      world.kube.setPodTrouble('apps', 'worker', {});
    });

    await click(bot.url, world, { actionId: 'approval.approve', value: approvalId });
    const done = await world.github.waitFor(
      () => records(world, jobId).find((r) => !['requested', 'approved'].includes(String(r.outcome))),
      10_000,
    );
    expect(done, String(done.message)).toMatchObject({
      outcome: 'executed',
      action: 'rollback',
      target: 'worker',
    });
    const patches = world.kube.requests.filter(
      (r) => r.method === 'PATCH' && r.path.endsWith('/worker') && !r.query.dryRun,
    );
    expect(patches).toHaveLength(2);
  });

  it('lets an approver deny, and expires a request nobody decided', async () => {
    const denied = await request('scale web 5 --env prod --reason "load test"');
    await click(bot.url, world, { actionId: 'approval.deny', value: denied.approvalId });
    await world.github.waitFor(
      () => records(world, denied.jobId).find((r) => r.outcome === 'denied'),
      10_000,
    );

    const expiring = await request('scale web 6 --env prod --reason "load test"');
    const expired = await world.github.waitFor(
      () => records(world, expiring.jobId).find((r) => r.outcome === 'expired'),
      10_000,
    );
    expect(expired).toMatchObject({ action: 'scale', environment: 'prod', target: 'web' });
    await click(bot.url, world, { actionId: 'approval.approve', value: expiring.approvalId });
    await world.github.waitFor(
      () =>
        auditRecords(world).find(
          (r) => r.message === 'Refused approve click: this request is already expired',
        ),
      10_000,
    );
    const web = world.kube.getDeployment('apps', 'web') as { spec: { replicas: number } };
    expect(web.spec.replicas).toBe(2);
  });

  it('runs break-glass without approval for roles granted it, and opens a review issue', async () => {
    const ack = await slash(bot.url, world, 'scale web 3 --env prod --reason "sev1" --emergency');
    expect(ack.body.text).toMatch(/^Accepted/);
    const issue = await world.github.waitFor(
      () =>
        world.github
          .issues('acme/ops-audit')
          .find((i) => i.title.startsWith('Break-glass review: scale web in prod by alice')),
      15_000,
    );
    expect(issue.labels).toEqual(['break-glass']);
    expect(issue.body).toContain('"emergency": true');
    const web = world.kube.getDeployment('apps', 'web') as { spec: { replicas: number } };
    expect(web.spec.replicas).toBe(3);

    const refused = await slash(bot.url, world, 'restart api --env prod --reason "x y z" --emergency', {
      user: USERS.oncall2,
    });
    expect(refused.body.text).toBe('Denied: --emergency in prod is not granted to any role you hold.');
  });
});
