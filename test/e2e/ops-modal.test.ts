import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interactionBody, postSigned, viewSubmissionPayload } from '../fakes/slack-signing.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { openHome, openModal } from '../helpers/slack-views.js';
import {
  approvalIdIn,
  auditRecords,
  click,
  DEFAULT_CONFIG,
  imageOf,
  SIGNING_SECRET,
  slash,
  startWorld,
  USERS,
  type World,
} from '../helpers/world.js';

const CONFIG = `${DEFAULT_CONFIG}
rollout: { timeout: 20s, pollInterval: 1s }
`;

function records(world: World, jobId: string) {
  return auditRecords(world).filter((r) => String(r.jobId ?? r.id).startsWith(jobId));
}

/** The newest ephemeral answer the bot gave a user in #ops. */
function lastEphemeral(world: World, user: string) {
  return [...world.slack.ephemerals].reverse().find((e) => e.user === user && e.channel === 'COPS');
}

describe('/ops modal and App Home, through /slack/events', () => {
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

  it('steps environment → deployment → rollback → revision, and submits through approval, queue and audit once', async () => {
    const modal = await openModal(bot.url, world, USERS.oncall);
    expect(modal.current.view.title).toEqual({ type: 'plain_text', text: 'opsbot' });
    expect(modal.offered('ops.env')).toEqual(['staging', 'prod']);

    await modal.pick('ops.env', 'prod');
    const deployments = await modal.suggest('ops.deployment');
    expect(deployments.map((o) => o.value)).toEqual(['api', 'web', 'worker']);
    expect((await modal.suggest('ops.deployment', 'WOR')).map((o) => o.value)).toEqual(['worker']);
    await modal.pickListed('ops.deployment', 'api');

    // alice's role grants these five in prod, and nothing else is offered (no pause, no resume).
    expect(modal.offered('ops.action').sort()).toEqual(['history', 'restart', 'rollback', 'scale', 'status']);
    await modal.pick('ops.action', 'rollback');
    // The fields are rollback's own arguments; prod is protected, so a reason is required.
    expect(modal.block('arg.to')?.element?.type).toBe('external_select');
    expect(modal.block('arg.reason')?.optional).toBe(false);
    expect(modal.block('arg.emergency')).toBeUndefined();

    const revisions = await modal.suggest('arg.to');
    expect(revisions.map((o) => o.value)).toEqual(['3', '2', '1']);
    // Number, age, image and change-cause; over 75 characters, the change-cause is what is cut.
    expect(revisions[0]!.text.text).toMatch(
      /^3 \(current\) · \d+s ago · ghcr\.io\/acme\/api:1\.5\.0 · deploy api 1\.5\.0: new [a-z ]*…$/,
    );
    expect(revisions[2]!.text.text).toMatch(
      /^1 · \d+s ago · ghcr\.io\/acme\/api:1\.4\.0 · deploy api 1\.4\.0$/,
    );
    await modal.pickListed('arg.to', '1');
    await modal.type('arg.reason', 'billing "v2" broke checkout');

    const submitted = await modal.submit();
    expect(submitted).toEqual({ status: 200, body: {} });
    const accepted = await world.slack.waitFor(() => lastEphemeral(world, USERS.oncall.id), 10_000);
    expect(accepted.text).toMatch(/^Accepted: rollback api in prod \(job cmd-[0-9a-f]+\)\.$/);
    const jobId = /job (cmd-[0-9a-f]+)/.exec(accepted.text ?? '')![1]!;

    // The same submission delivered again (a retry) is the same request: nothing new is queued.
    const count = world.slack.ephemerals.length;
    expect((await modal.submit()).status).toBe(200);
    const again = await world.slack.waitFor(
      () => world.slack.ephemerals.length > count && lastEphemeral(world, USERS.oncall.id),
      10_000,
    );
    expect(again.text).toBe(`Already accepted: rollback api in prod (job ${jobId}).`);

    // The same approval as a typed command: bob approves, then it runs, and the record says so.
    const approvalId = await world.slack.waitFor(() => approvalIdIn(world), 10_000);
    await click(bot.url, world, { user: USERS.oncall2, actionId: 'approval.approve', value: approvalId });
    const executed = await world.github.waitFor(
      () => records(world, jobId).find((r) => r.outcome === 'executed'),
      20_000,
    );
    expect(executed).toMatchObject({
      requester: { id: USERS.oncall.id },
      approver: { id: USERS.oncall2.id },
      reason: 'billing "v2" broke checkout',
      args: { to: 1 },
      after: { images: ['api=ghcr.io/acme/api:1.4.0'] },
    });
    expect(imageOf(world, 'api')).toBe('ghcr.io/acme/api:1.4.0');
    expect(
      records(world, jobId)
        .map((r) => r.outcome)
        .sort(),
    ).toEqual(['approved', 'executed', 'requested']);
    // One approval request, which then became the progress message.
    const approvals = world.slack
      .messages('COPS')
      .filter((m) => m.versions[0]?.text?.startsWith('Approval needed: rollback api in prod'));
    expect(approvals).toHaveLength(1);
  });

  it('shows the scale bounds, and keeps a refused value in the modal with the reason', async () => {
    const modal = await openModal(bot.url, world, USERS.oncall);
    await modal.pick('ops.env', 'prod');
    // Submitted too early: the error sits on the step still open.
    expect((await modal.submit()).body).toEqual({
      response_action: 'errors',
      errors: { 'ops.deployment': 'Pick a deployment.' },
    });
    await modal.pickListed('ops.deployment', 'web');
    await modal.pick('ops.action', 'scale');
    const replicas = modal.block('arg.replicas')!;
    expect(replicas.element).toMatchObject({ type: 'number_input', min_value: '2', max_value: '50' });
    expect(replicas.hint?.text).toBe('prod allows 2 to 50 replicas.');
    await modal.type('arg.replicas', '60');
    await modal.type('arg.reason', 'load test');
    const refused = await modal.submit();
    expect(refused.status).toBe(200);
    expect(refused.body).toEqual({
      response_action: 'errors',
      errors: { 'ops.action': 'prod allows between 2 and 50 replicas; 60 is outside that.' },
    });
  });

  it('offers a developer only what their role grants, and a forged choice is still denied by policy', async () => {
    const modal = await openModal(bot.url, world, USERS.developer);
    expect(modal.offered('ops.env')).toEqual(['staging']);
    await modal.pick('ops.env', 'staging');
    await modal.pickListed('ops.deployment', 'worker');
    expect(modal.offered('ops.action').sort()).toEqual(['history', 'restart', 'status']);

    // A crafted payload naming rollback (never offered) takes the typed command's path: denied and audited.
    const payload = modal.payloadView();
    payload.state.values['ops.action'] = {
      'ops.modal.action': { type: 'static_select', selected_option: { value: 'rollback' } },
    };
    const res = await postSigned(
      `${bot.url}/slack/events`,
      interactionBody(viewSubmissionPayload({ user: USERS.developer, view: payload })),
      SIGNING_SECRET,
    );
    const forged = { status: res.status, text: await res.text() };
    expect(forged).toEqual({ status: 200, text: '' });
    const denied = await world.slack.waitFor(() => lastEphemeral(world, USERS.developer.id), 10_000);
    expect(denied.text).toBe('Denied: rollback in staging needs role oncall, which you do not hold.');
    await world.github.waitFor(
      () =>
        auditRecords(world).find(
          (r) => r.outcome === 'denied' && (r.requester as { id: string }).id === USERS.developer.id,
        ),
      10_000,
    );
  });

  it('tells someone with no role that there is nothing to run, with no submit button', async () => {
    const modal = await openModal(bot.url, world, USERS.stranger);
    expect(modal.block('ops.env')).toBeUndefined();
    expect(modal.current.view.submit).toBeUndefined();
    expect(JSON.stringify(modal.current.view.blocks)).toContain('None of your roles may run an action');
  });

  it('answers with the help text when the trigger_id has expired', async () => {
    const trigger = world.slack.triggerId(USERS.oncall.id);
    await new Promise((r) => setTimeout(r, 3100));
    const before = world.slack.responses.length;
    const ack = await slash(bot.url, world, '', { triggerId: trigger });
    expect(ack.status).toBe(200);
    const help = await world.slack.waitFor(() => world.slack.responses.slice(before)[0], 10_000);
    expect(JSON.stringify(help.body)).toContain('What you can run here');
    const refused = world.slack.calls.filter(
      (c) => c.method === 'views.open' && c.args.trigger_id === trigger,
    );
    expect(refused).toHaveLength(1);
  });

  it('publishes the Home tab on app_home_opened, and refreshes it after each action', async () => {
    const home = await openHome(bot.url, world, USERS.oncall);
    const shown = JSON.stringify(home.view.blocks);
    expect(shown).toContain('*Your roles:* `oncall`');
    expect(shown).toContain('• *rollback* in staging, prod');
    const executed = auditRecords(world).find((r) => r.outcome === 'executed' && r.action === 'rollback')!;
    expect(shown).toContain(`\`${String(executed.id)}\` rollback api in *prod* · executed · @alice`);
    // At most 10 actions are listed.
    expect(
      (home.view.blocks as { text?: { text: string } }[]).filter((b) => b.text?.text.includes('` ')).length,
    ).toBeLessThanOrEqual(10);

    const versions = home.versions.length;
    const ack = await slash(bot.url, world, 'status web --env staging');
    const jobId = /job (cmd-[0-9a-f]+)/.exec(ack.body.text ?? '')![1]!;
    const record = await world.github.waitFor(() => records(world, jobId)[0], 15_000);
    const refreshed = await world.slack.waitFor(() => {
      const now = world.slack.home(USERS.oncall.id)!;
      return now.versions.length > versions && JSON.stringify(now.view.blocks).includes(String(record.id))
        ? now
        : undefined;
    }, 10_000);
    expect(JSON.stringify(refreshed.view.blocks)).toContain(
      `\`${String(record.id)}\` status web in *staging*`,
    );

    // A developer sees staging only: prod's rollback is not listed to them.
    const devHome = await openHome(bot.url, world, USERS.developer);
    const devShown = JSON.stringify(devHome.view.blocks);
    expect(devShown).toContain('*Your roles:* `developer`');
    expect(devShown).not.toContain(String(executed.id));
    expect(devShown).toContain(String(record.id));
  });
});
