import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
  prod: { context: prod, namespace: apps, protected: true, scale: { min: 1, max: 50 } }
roles:
  oncall:
    members: [${USERS.oncall.id}, "@sre-oncall"]
    can:
      - { actions: [run, rollback, restart, scale, status, history], environments: [staging, prod] }
      - { actions: [env.open, env.close], environments: [staging] }
    approve: [prod]
  developer:
    members: ["@engineering"]
    can:
      - { actions: [status, history, restart], environments: [staging] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
approvals: { ttl: 1m }
rollout: { timeout: 20s, pollInterval: 1s }
preview:
  environment: staging
  template: ${resolve('runbooks/preview')}
  host: "{{name}}.preview.test"
  image: ghcr.io/acme/web
  ttl: 8h
  maxTtl: 24h
`;

/** Test-only: three changes, one of which (a restart) cannot be undone. */
const RELEASE = `name: release
description: Scale web out, roll api back, restart worker
steps:
  - { kind: scale, deployment: web, replicas: 4 }
  - { kind: rollback, deployment: api }
  - { kind: restart, deployment: worker }
`;

interface Dep {
  metadata: { annotations?: Record<string, string> };
  spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
  status?: unknown;
}

describe('/ops undo and /ops history, end to end through the bot process', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG });
    mkdirSync(join(world.dir, 'runbooks'));
    writeFileSync(join(world.dir, 'runbooks', 'release.yml'), RELEASE);
    bot = await startBotProcess(world.env);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  const deployment = (name: string) => world.kube.getDeployment('apps', name) as unknown as Dep;
  const image = (name: string) => deployment(name).spec.template.spec.containers[0]!.image;

  /** Sends a command, and waits for the record of how its job ended (an approved job ends as `<job>-run`). */
  async function send(text: string, outcome = 'executed', user: { id: string; name: string } = USERS.oncall) {
    const ack = await slash(bot.url, world, text, { user });
    const jobId = /job (cmd-[0-9a-f]+)/.exec(ack.body.text ?? '')?.[1];
    expect(jobId, ack.body.text).toBeDefined();
    return { ack, jobId: jobId!, record: await recordOf(jobId!, outcome) };
  }

  function recordOf(jobId: string, outcome: string) {
    return world.github.waitFor(
      () =>
        auditRecords(world).find((r) => r.id === `${jobId}-${outcome}` || r.id === `${jobId}-run-${outcome}`),
      30_000,
    );
  }

  /** The newest message of a job in the channel (the outcome replaces the progress in place). */
  function messageOf(jobId: string) {
    return world.slack
      .messages('COPS')
      .filter((m) => JSON.stringify(m.blocks).includes(jobId))
      .at(-1);
  }

  const auditFiles = () => world.github.files(AUDIT_REPO);

  it('gives a rollback a record id, lists it in history, and undoes it to the exact revision live before', async () => {
    expect(image('api')).toBe('ghcr.io/acme/api:1.5.0');
    const before = structuredClone(deployment('api').spec.template);
    const rollback = await send('rollback api --env staging --reason "bad deploy"');
    const id = String(rollback.record.recordId);
    expect(id).toMatch(/^[a-z2-7]{8}$/);
    expect(rollback.record).toMatchObject({
      action: 'rollback',
      reversal: { kind: 'rollback', revision: 3, images: ['api=ghcr.io/acme/api:1.5.0'] },
    });
    expect(world.github.commits(AUDIT_REPO)[0]!.message).toMatch(
      new RegExp(`^rollback api in staging by @alice: executed \\(record ${id}\\)`),
    );
    const outcome = await world.slack.waitFor(() => {
      const m = messageOf(rollback.jobId);
      return m?.text?.startsWith('Rolled back') ? m : undefined;
    });
    expect(JSON.stringify(outcome.blocks)).toContain(`Record \`${id}\` · undo with \`/ops undo ${id}\``);
    expect(image('api')).toBe('ghcr.io/acme/api:1.4.1');

    const history = await send('history api --env staging');
    const shown = await world.slack.waitFor(() => {
      const m = messageOf(history.jobId);
      return m?.text?.includes('opsbot actions') ? JSON.stringify(m.blocks) : undefined;
    });
    expect(shown).toContain(
      `\`${id}\` rollback: from revision 3 (api=ghcr.io/acme/api:1.5.0) to api=ghcr.io/acme/api:1.4.1 by @alice`,
    );
    expect(shown).toContain('`4` api=ghcr.io/acme/api:1.4.1');

    const filesBefore = auditFiles();
    const undo = await send(`undo ${id} --reason "1.5.0 was fine after all"`);
    expect(undo.ack.body.text).toMatch(/^Accepted: undo api in staging/);
    expect(image('api')).toBe('ghcr.io/acme/api:1.5.0');
    // The exact template that was live before, as kubectl rollout undo --to-revision=3 restores it.
    expect(deployment('api').spec.template).toEqual(before);
    const original = Object.entries(filesBefore).find(
      ([path, c]) => path.startsWith('audit/') && JSON.parse(c).recordId === id,
    )!;
    expect(undo.record).toMatchObject({
      action: 'undo',
      target: 'api',
      environment: 'staging',
      reason: '1.5.0 was fine after all',
      undoes: { recordId: id, auditId: rollback.record.id, path: original[0] },
      before: { revision: 4, images: ['api=ghcr.io/acme/api:1.4.1'] },
      after: { revision: 3, images: ['api=ghcr.io/acme/api:1.5.0'] },
      args: { record: id },
    });
    expect(undo.record.forced).toBeUndefined();
    expect(undo.record.recordId).toMatch(/^[a-z2-7]{8}$/);
    expect(undo.record.recordId).not.toBe(id);
    // Records are never edited: the original is as it was.
    expect(auditFiles()[original[0]]).toBe(original[1]);
    const reply = await world.slack.waitFor(() => {
      const m = messageOf(undo.jobId);
      return m?.text?.startsWith('Undid') ? m : undefined;
    });
    expect(reply.text).toBe(`Undid record ${id} (rollback api in staging).`);
    expect(JSON.stringify(reply.blocks)).toContain('to revision 3 (api=ghcr.io/acme/api:1.5.0)');
  });

  it('undoes a scale to the earlier count; a restart cannot be undone and says what comes nearest', async () => {
    const scale = await send('scale web 5 --env staging');
    expect(deployment('web').spec.replicas).toBe(5);
    const undo = await send(`undo ${scale.record.recordId}`);
    expect(deployment('web').spec.replicas).toBe(2);
    expect(undo.record).toMatchObject({
      action: 'undo',
      undoes: { recordId: scale.record.recordId },
      before: { replicas: 5 },
      after: { replicas: 2 },
    });

    // The same rights as the original action: dana may restart in staging, but not scale.
    const denied = await slash(bot.url, world, `undo ${scale.record.recordId}`, { user: USERS.developer });
    expect(denied.body.text).toBe('Denied: scale in staging needs role oncall, which you do not hold.');

    const restart = await send('restart web --env staging');
    const refused = await slash(bot.url, world, `undo ${restart.record.recordId}`);
    expect(refused.body.text).toContain(
      `Record ${restart.record.recordId} (restart web in staging by @alice at`,
    );
    expect(refused.body.text).toContain(
      'cannot be undone: a restart replaces the pods; there is no earlier state to go back to. The nearest action: `/ops rollback web --env staging`.',
    );
    // Someone without the right learns nothing about the record.
    const stranger = await slash(bot.url, world, `undo ${restart.record.recordId}`, { user: USERS.stranger });
    expect(stranger.body.text).toMatch(/^Denied: restart in staging needs/);
    expect(stranger.body.text).not.toContain('cannot be undone');
    const unknown = await slash(bot.url, world, 'undo zzzzzzzz');
    expect(unknown.body.text).toMatch(/^There is no record zzzzzzzz\./);
  });

  it('refuses to undo over a later rollout, says what changed and when, and goes through with --force', async () => {
    const rollback = await send('rollback worker --env staging');
    const id = String(rollback.record.recordId);
    expect(image('worker')).toBe('ghcr.io/acme/worker:2.0.0');

    // Someone deploys 2.2.0 by hand after opsbot's rollback.
    const edited = structuredClone(deployment('worker'));
    edited.spec.template.spec.containers[0]!.image = 'ghcr.io/acme/worker:2.2.0';
    delete edited.status;
    world.kube.applyDeployment('apps', edited, { settle: true });

    // Refused, not failed: nothing broke and nothing changed, and the record and the reply say so.
    const refused = await send(`undo ${id}`, 'refused');
    expect(String(refused.record.message)).toMatch(
      /^Not undone: worker now runs revision 4 \(worker=ghcr\.io\/acme\/worker:2\.2\.0\), not the worker=ghcr\.io\/acme\/worker:2\.0\.0 the record left; changed outside opsbot at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\. Nothing was changed\./,
    );
    expect(String(refused.record.message)).toContain('add --force to do it anyway');
    expect(image('worker')).toBe('ghcr.io/acme/worker:2.2.0');
    const reply = await world.slack.waitFor(() => {
      const m = messageOf(refused.jobId);
      return m?.text?.startsWith('Not undone') ? m : undefined;
    });
    expect(reply.text).toContain('worker now runs revision 4');
    expect(JSON.stringify(reply.blocks)).not.toContain('failed');

    const forced = await send(`undo ${id} --force --reason "2.2.0 is broken too"`);
    expect(image('worker')).toBe('ghcr.io/acme/worker:2.1.0');
    expect(forced.record).toMatchObject({
      action: 'undo',
      undoes: { recordId: id },
      args: { record: id, force: true },
      forced: [
        expect.stringMatching(/^worker now runs revision 4 \(worker=ghcr\.io\/acme\/worker:2\.2\.0\)/),
      ],
      after: { images: ['worker=ghcr.io/acme/worker:2.1.0'] },
    });
    const forcedReply = await world.slack.waitFor(() => {
      const m = messageOf(forced.jobId);
      return m?.text?.startsWith('Undid') ? JSON.stringify(m.blocks) : undefined;
    });
    expect(forcedReply).toContain('Forced past a later change: worker now runs revision 4');
  });

  it("undoes a runbook's reversible steps in reverse order and leaves its restart", async () => {
    const apiBefore = image('api');
    const run = await send('run release --env staging');
    expect(run.record.reversal).toMatchObject({
      kind: 'steps',
      steps: [
        { reversal: { kind: 'scale' } },
        { reversal: { kind: 'rollback' } },
        { reversal: { kind: 'irreversible' } },
      ],
    });
    expect(deployment('web').spec.replicas).toBe(4);
    expect(image('api')).not.toBe(apiBefore);

    const undo = await send(`undo ${run.record.recordId} --reason "release went wrong"`);
    expect(undo.ack.body.text).toMatch(/^Accepted: undo release in staging/);
    expect(image('api')).toBe(apiBefore);
    expect(deployment('web').spec.replicas).toBe(2);
    expect(undo.record).toMatchObject({
      action: 'undo',
      target: 'release',
      undoes: { recordId: run.record.recordId },
    });
    const reply = await world.slack.waitFor(() => {
      const m = messageOf(undo.jobId);
      return m?.text?.startsWith('Undid') ? JSON.stringify(m.blocks) : undefined;
    });
    // Newest change first: the rollback of api is undone before the scale of web.
    expect(reply.indexOf(':rewind: Rolled back *api*')).toBeGreaterThan(-1);
    expect(reply.indexOf(':rewind: Rolled back *api*')).toBeLessThan(reply.indexOf('Scaled *web*'));
    expect(reply).toContain('Left as it is: step 3 (Restart worker in staging): a restart replaces the pods');
  });

  it('needs the same two-person approval in a protected environment, with the plan shown', async () => {
    const rollbackAck = await slash(bot.url, world, 'rollback api --env prod --reason "bad deploy in prod"');
    const rollbackJob = /job (cmd-[0-9a-f]+)/.exec(rollbackAck.body.text ?? '')![1]!;
    const firstApproval = await world.slack.waitFor(() => approvalIdIn(world), 10_000);
    await click(bot.url, world, { user: USERS.oncall2, actionId: 'approval.approve', value: firstApproval });
    const rollback = await recordOf(rollbackJob, 'executed');
    const id = String(rollback.recordId);
    const rolledBackTo = image('api');

    const missingReason = await slash(bot.url, world, `undo ${id}`);
    expect(missingReason.body.text).toBe('prod is protected: say why with --reason "&lt;text&gt;".');

    const ack = await slash(bot.url, world, `undo ${id} --reason "the old build was fine"`);
    expect(ack.body.text).toMatch(/^Accepted: undo api in prod/);
    expect(JSON.stringify(ack.body)).toContain('second person to approve');
    const undoJob = /job (cmd-[0-9a-f]+)/.exec(ack.body.text ?? '')![1]!;
    const approvalId = await world.slack.waitFor(() => {
      const found = approvalIdIn(world);
      return found && found !== firstApproval ? found : undefined;
    }, 10_000);
    const approval = world.slack
      .messages('COPS')
      .find((m) => m.text === 'Approval needed: undo api in prod')!;
    const plan = JSON.stringify(approval.blocks);
    expect(plan).toContain(`Undo record \`${id}\`: rollback api in prod by @alice`);
    expect(plan).toMatch(
      /1\. Roll api in prod back to revision \d+ \(api=ghcr\.io\/acme\/api:1\.5\.0\), the one live before/,
    );
    expect(plan).toContain('Image: api=ghcr.io/acme/api:1.4.1 → api=ghcr.io/acme/api:1.5.0');
    expect(image('api')).toBe(rolledBackTo);

    // The requester cannot approve their own undo.
    await click(bot.url, world, { user: USERS.oncall, actionId: 'approval.approve', value: approvalId });
    await click(bot.url, world, { user: USERS.oncall2, actionId: 'approval.approve', value: approvalId });
    const undone = await recordOf(undoJob, 'executed');
    expect(image('api')).toBe('ghcr.io/acme/api:1.5.0');
    expect(undone).toMatchObject({
      action: 'undo',
      environment: 'prod',
      requester: { id: USERS.oncall.id },
      approver: { id: USERS.oncall2.id },
      undoes: { recordId: id },
    });
    const refusals = auditRecords(world).filter((r) => r.outcome === 'refused');
    expect(refusals.map((r) => r.message)).toContain(
      'Refused approve click: you cannot approve your own request',
    );
  });

  it('asks nobody to approve an undo it refuses: the record says refused, and no approval is posted', async () => {
    const rollbackAck = await slash(bot.url, world, 'rollback api --env prod --reason "bad again"');
    const rollbackJob = /job (cmd-[0-9a-f]+)/.exec(rollbackAck.body.text ?? '')![1]!;
    const approvals = () => world.slack.messages('COPS').filter((m) => m.text?.startsWith('Approval needed'));
    const before = approvals().length;
    const approvalId = await world.slack.waitFor(
      () => (approvals().length > before ? approvalIdIn(world) : undefined),
      10_000,
    );
    await click(bot.url, world, { user: USERS.oncall2, actionId: 'approval.approve', value: approvalId });
    const rollback = await recordOf(rollbackJob, 'executed');

    // Someone deploys by hand after it.
    const edited = structuredClone(deployment('api'));
    edited.spec.template.spec.containers[0]!.image = 'ghcr.io/acme/api:1.6.0';
    delete edited.status;
    world.kube.applyDeployment('apps', edited, { settle: true });

    const asked = approvals().length;
    const ack = await slash(bot.url, world, `undo ${rollback.recordId} --reason "go back"`);
    const undoJob = /job (cmd-[0-9a-f]+)/.exec(ack.body.text ?? '')![1]!;
    const refused = await recordOf(undoJob, 'refused');
    expect(String(refused.message)).toMatch(
      /^Not undone: api now runs revision \d+ \(api=ghcr\.io\/acme\/api:1\.6\.0\)/,
    );
    const reply = await world.slack.waitFor(() => {
      const m = messageOf(undoJob);
      return m?.text?.startsWith('Not undone') ? m : undefined;
    });
    expect(reply.text).toContain('add --force to do it anyway');
    expect(approvals()).toHaveLength(asked);
    expect(image('api')).toBe('ghcr.io/acme/api:1.6.0');
  });

  it('undoes an env open by closing it; the close itself cannot be undone and offers to open it again', async () => {
    const namespace = () => world.kube.getObject('/api/v1/namespaces/preview-undo-1');
    const open = await send('env open undo-1');
    expect(open.record).toMatchObject({ action: 'env.open', reversal: { kind: 'env.open', name: 'undo-1' } });
    expect(namespace()).toBeDefined();

    const undo = await send(`undo ${open.record.recordId}`);
    expect(undo.ack.body.text).toMatch(/^Accepted: undo undo-1 in staging/);
    expect(undo.record).toMatchObject({
      action: 'undo',
      target: 'undo-1',
      undoes: { recordId: open.record.recordId },
    });
    await world.github.waitFor(() => {
      const ns = namespace() as { status?: { phase?: string } } | undefined;
      return ns === undefined || ns.status?.phase === 'Terminating' ? true : undefined;
    }, 10_000);
    const reply = await world.slack.waitFor(() => {
      const m = messageOf(undo.jobId);
      return m?.text?.startsWith('Undid') ? JSON.stringify(m.blocks) : undefined;
    });
    expect(reply).toContain('Closed preview *undo-1*');

    const refused = await slash(bot.url, world, `undo ${undo.record.recordId}`);
    expect(refused.body.text).toContain(
      'cannot be undone: closing deleted the namespace and everything in it. The nearest action: `/ops env open undo-1`.',
    );
  });
});
