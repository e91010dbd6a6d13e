import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockActionPayload, interactionBody, postSigned } from '../fakes/slack-signing.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { openHome } from '../helpers/slack-views.js';
import {
  auditRecords,
  click,
  SIGNING_SECRET,
  slash,
  startWorld,
  USERS,
  type World,
} from '../helpers/world.js';

const SHA = '4f9a1c0d2e3b4a5968778695a4b3c2d1e0f9a8b7';
const TEMPLATE = resolve('runbooks/preview');

const CONFIG = `
environments:
  staging: { context: staging, namespace: apps }
  prod: { context: prod, namespace: apps, protected: true }
roles:
  oncall:
    members: [${USERS.oncall.id}, "@sre-oncall"]
    can:
      - { actions: [status, env.open, env.close, env.extend, env.list], environments: [staging] }
  platform:
    members: [${USERS.oncall2.id}]
    can:
      - { actions: [env.close-any], environments: [staging] }
  developer:
    members: ["@engineering"]
    can:
      - { actions: [status, env.open, env.close, env.extend, env.list], environments: [staging] }
audit: { repo: acme/ops-audit, branch: main, dir: audit }
rollout: { timeout: 20s, pollInterval: 1s }
preview:
  environment: staging
  template: ${TEMPLATE}
  host: "{{name}}.preview.test"
  image: ghcr.io/acme/web
  repo: acme/web
  ttl: 8h
  maxTtl: 24h
  maxPerUser: 2
  maxTotal: 3
  warnBefore: 30m
  reapEvery: 1s
`;

interface Obj {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

describe('preview environments from chat', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    // Rollouts take a few steps, so readiness is seen live.
    world = await startWorld({ config: CONFIG, rolloutStepMs: 600 });
    world.github.createRepo('acme/web', { files: { 'README.md': '# web\n' } });
    world.github.addPullRequest('acme/web', { number: 481, headSha: SHA, headRef: 'feature/login' });
    bot = await startBotProcess(world.env);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  const jobOf = (text: string | undefined) => /job (cmd-[0-9a-f]+)/.exec(text ?? '')?.[1] ?? '';
  const recordOf = (jobId: string) =>
    world.github.waitFor(() => auditRecords(world).find((r) => r.jobId === jobId), 20_000);
  const run = async (text: string, user: { id: string; name: string } = USERS.developer) => {
    const ack = await slash(bot.url, world, text, { user });
    expect(ack.body.text).toMatch(/^Accepted: /);
    return recordOf(jobOf(ack.body.text));
  };
  const ns = (name: string) => world.kube.getObject(`/api/v1/namespaces/${name}`) as Obj | undefined;
  const lastMessage = (prefix: string) =>
    world.slack.waitFor(() =>
      [...world.slack.messages('COPS')].reverse().find((m) => m.text?.startsWith(prefix)),
    );

  it('opens from a PR: namespace, labelled; template applied server-side; URL in chat and on the PR', async () => {
    const record = await run('env open pr-481 --pr 481 --ttl 6h');
    expect(record).toMatchObject({
      outcome: 'executed',
      action: 'env.open',
      target: 'pr-481',
      namespace: 'preview-pr-481',
      environment: 'staging',
      args: { pr: 481, tag: SHA, url: 'https://pr-481.preview.test', ref: 'feature/login' },
      rollout: { state: 'complete' },
    });

    const labels = ns('preview-pr-481')?.metadata.labels ?? {};
    expect(labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'opsbot',
      'opsbot.dev/preview': 'pr-481',
      'opsbot.dev/owner': USERS.developer.id,
      'opsbot.dev/pr': '481',
      'opsbot.dev/ref': 'feature-login',
    });
    const expiresAt = Number(labels['opsbot.dev/expires-at']) * 1000;
    expect(Math.abs(expiresAt - (Date.now() + 6 * 3_600_000))).toBeLessThan(60_000);

    const deployment = world.kube.getDeployment('preview-pr-481', 'web') as unknown as {
      spec: { template: { spec: { containers: { image: string }[] } } };
    };
    expect(deployment.spec.template.spec.containers[0]?.image).toBe(`ghcr.io/acme/web:${SHA}`);
    expect(world.kube.getObject('/api/v1/namespaces/preview-pr-481/services/web')).toBeDefined();
    const ingress = world.kube.getObject(
      '/apis/networking.k8s.io/v1/namespaces/preview-pr-481/ingresses/web',
    ) as Obj;
    expect(JSON.stringify(ingress.spec)).toContain('"host":"pr-481.preview.test"');
    const cm = world.kube.getObject('/api/v1/namespaces/preview-pr-481/configmaps/web-config') as Obj;
    expect(cm.data).toMatchObject({ PREVIEW_NAME: 'pr-481', OPENED_BY: USERS.developer.id });
    const applies = world.kube.requests.filter(
      (r) => r.method === 'PATCH' && r.path.includes('/namespaces/preview-pr-481/'),
    );
    expect(applies.length).toBe(4);
    for (const r of applies) {
      expect(r.contentType).toBe('application/apply-patch+yaml');
      expect(r.query.fieldManager).toBe('opsbot');
    }

    const msg = await lastMessage('Opened preview pr-481');
    expect(msg.text).toBe('Opened preview pr-481: https://pr-481.preview.test; rollout complete');
    const versions = msg.versions.map((v) => v.text ?? '');
    expect(versions[0]).toBe('Opening preview pr-481…');
    expect(versions.some((t) => t.startsWith('web: '))).toBe(true);
    expect(JSON.stringify(msg.versions.find((v) => v.text?.startsWith('web: '))?.blocks)).toContain(
      'https://pr-481.preview.test',
    );
    const comments = world.github.pullComments('acme/web', 481);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain('https://pr-481.preview.test');
    expect(comments[0]?.body).toContain(SHA);
  });

  it('re-opening the same name updates it instead of making a second one', async () => {
    const before = world.kube.namespaces().length;
    const record = await run('env open pr-481 --pr 481');
    expect(record).toMatchObject({ outcome: 'executed', args: { updated: true } });
    expect(world.kube.namespaces().length).toBe(before);
    await lastMessage('Updated preview pr-481');
  });

  it('lists what is open, and extends by changing the expiry label', async () => {
    await run('env list');
    const list = await lastMessage('1 open preview environment');
    expect(JSON.stringify(list.blocks)).toContain('pr-481');

    const before = Number(ns('preview-pr-481')?.metadata.labels?.['opsbot.dev/expires-at']);
    const record = await run('env extend pr-481 --ttl 4h');
    expect(record).toMatchObject({ outcome: 'executed', action: 'env.extend', target: 'pr-481' });
    const after = Number(ns('preview-pr-481')?.metadata.labels?.['opsbot.dev/expires-at']);
    expect(after - before).toBe(4 * 3600);
  });

  it("lists the user's previews in the Home tab with expiry and an Extend button that works there", async () => {
    const home = await openHome(bot.url, world, USERS.developer);
    const shown = JSON.stringify(home.view.blocks);
    expect(shown).toContain('*Your preview environments*');
    expect(shown).toMatch(
      /• \*pr-481\* \S*pr-481\.preview\.test\S* · expires \d{4}-\d\d-\d\dT[\d:]+Z \(\d+h \d+m left\)/,
    );
    const buttons = (
      home.view.blocks as { type: string; elements?: { action_id?: string; value?: string }[] }[]
    )
      .filter((b) => b.type === 'actions')
      .flatMap((b) => b.elements ?? []);
    expect(buttons).toContainEqual(expect.objectContaining({ action_id: 'preview.extend', value: 'pr-481' }));
    // oncall owns none of them.
    expect(JSON.stringify((await openHome(bot.url, world, USERS.oncall)).view.blocks)).toContain(
      '*Your preview environments*\\nNone open.',
    );

    // A click in the Home tab: a block_actions payload from the home view, with no channel.
    const before = Number(ns('preview-pr-481')?.metadata.labels?.['opsbot.dev/expires-at']);
    const extensions = () =>
      auditRecords(world).filter(
        (r) => r.action === 'env.extend' && r.target === 'pr-481' && r.outcome === 'executed',
      );
    const earlier = extensions().map((r) => String(r.id));
    const payload: Record<string, unknown> = {
      ...blockActionPayload({
        user: USERS.developer.id,
        userName: USERS.developer.name,
        actionId: 'preview.extend',
        value: 'pr-481',
      }),
      container: { type: 'view', view_id: home.id },
      view: { ...home.view, id: home.id, hash: home.hash },
    };
    delete payload.channel;
    delete payload.message;
    const res = await postSigned(`${bot.url}/slack/events`, interactionBody(payload), SIGNING_SECRET);
    expect(res.status).toBe(200);
    const extended = await world.github.waitFor(
      () => extensions().find((r) => !earlier.includes(String(r.id))),
      15_000,
    );
    // The outcome went where the preview was opened.
    expect(extended).toMatchObject({ requester: { id: USERS.developer.id }, channel: { id: 'COPS' } });
    expect(Number(ns('preview-pr-481')?.metadata.labels?.['opsbot.dev/expires-at'])).toBeGreaterThan(before);
    // Refreshed after the action: the new record is listed.
    await world.slack.waitFor(
      () => JSON.stringify(world.slack.home(USERS.developer.id)?.view.blocks).includes(String(extended.id)),
      10_000,
    );
  });

  it('refuses what the limits forbid, with clear messages', async () => {
    const tooLong = await slash(bot.url, world, 'env open big --ttl 48h', { user: USERS.developer });
    expect(tooLong.body.text).toBe('--ttl 2d is longer than the 1d a preview may live.');
    const stranger = await slash(bot.url, world, 'env open mine', { user: USERS.stranger });
    expect(stranger.body.text).toMatch(/^Denied: env.open in staging needs role/);

    expect(await run('env open second')).toMatchObject({ outcome: 'executed' });
    const third = await run('env open third');
    expect(third).toMatchObject({ outcome: 'failed' });
    expect(third.message).toBe(
      'Failed: You already have 2 preview environments open (pr-481, second); the limit is 2 per person. Close one with /ops env close <name>.',
    );
    expect(ns('preview-third')).toBeUndefined();

    expect(await run('env open ops-one', USERS.oncall)).toMatchObject({ outcome: 'executed' });
    const total = await run('env open ops-two', USERS.oncall);
    expect(total.message).toBe(
      'Failed: There are already 3 preview environments open; the limit is 3 in total. Try again when one has closed.',
    );
  });

  it("closes: unknown names get a clear answer, others' need env.close-any, the namespace goes", async () => {
    const unknown = await run('env close nope');
    expect(unknown).toMatchObject({ outcome: 'noop' });
    expect(unknown.message).toBe('There is no preview environment "nope"; nothing was closed.');

    const notYours = await run('env close second', USERS.oncall);
    expect(notYours).toMatchObject({ outcome: 'failed' });
    expect(notYours.message).toBe(
      "Failed: second belongs to @dana; to close someone else's preview you need env.close-any in staging.",
    );
    expect(ns('preview-second')).toBeDefined();

    expect(await run('env close second', USERS.oncall2)).toMatchObject({ outcome: 'executed' });
    expect(ns('preview-second')).toBeUndefined();

    expect(await run('env close pr-481')).toMatchObject({ outcome: 'executed', action: 'env.close' });
    expect(ns('preview-pr-481')).toBeUndefined();
    expect(world.kube.getDeployment('preview-pr-481', 'web')).toBeUndefined();
    expect(
      world.kube.getObject('/apis/networking.k8s.io/v1/namespaces/preview-pr-481/ingresses/web'),
    ).toBeUndefined();
    await lastMessage('Closed preview pr-481');
  });

  it('a half-failed open is reported and cleaned up, or retried from scratch', async () => {
    world.kube.failNext({ method: 'PATCH', path: /namespaces\/preview-half\/ingresses\/web$/, status: 422 });
    const failed = await run('env open half');
    expect(failed).toMatchObject({ outcome: 'failed' });
    expect(failed.message).toMatch(
      /^Failed: Applying the preview template to preview-half failed: Kubernetes rejected the change to Ingress web in preview-half: .* The half-made namespace preview-half was deleted again, so nothing is left behind\.$/,
    );
    expect(ns('preview-half')).toBeUndefined();
    expect(world.kube.getDeployment('preview-half', 'web')).toBeUndefined();

    // A passing fault (503) is retried: the first attempt cleans up, the next one opens it whole.
    world.kube.failNext({ method: 'PATCH', path: /namespaces\/preview-half\/ingresses\/web$/, status: 503 });
    const retried = await run('env open half');
    expect(retried).toMatchObject({ outcome: 'executed' });
    expect(ns('preview-half')?.metadata.labels?.['opsbot.dev/owner']).toBe(USERS.developer.id);
    expect(
      world.kube.getObject('/apis/networking.k8s.io/v1/namespaces/preview-half/ingresses/web'),
    ).toBeDefined();
    const attempts = world.kube.requests.filter(
      (r) => r.method === 'DELETE' && r.path === '/api/v1/namespaces/preview-half',
    );
    expect(attempts).toHaveLength(2);
    expect(await run('env close half')).toMatchObject({ outcome: 'executed' });
  });

  it('the reaper warns with an Extend button that works, and deletes what expires', async () => {
    expect(await run('env open tick --ttl 20m')).toMatchObject({ outcome: 'executed' });
    const warning = await world.slack.waitFor(
      () => world.slack.messages('COPS').find((m) => m.text?.startsWith('Preview tick expires in')),
      10_000,
    );
    expect(JSON.stringify(warning.blocks)).toContain('"action_id":"preview.extend"');
    const before = Number(ns('preview-tick')?.metadata.labels?.['opsbot.dev/expires-at']);
    // The button carries only the name; the clicker's own rights decide.
    expect(
      await click(bot.url, world, { actionId: 'preview.extend', value: 'tick', user: USERS.oncall }),
    ).toBe(200);
    const refused = await world.github.waitFor(
      () => auditRecords(world).find((r) => r.action === 'env.extend' && r.target === 'tick'),
      15_000,
    );
    expect(refused).toMatchObject({ outcome: 'failed', requester: { id: USERS.oncall.id } });
    expect(refused.message).toBe(
      "Failed: tick belongs to @dana; to extend someone else's preview you need env.close-any in staging.",
    );
    expect(Number(ns('preview-tick')?.metadata.labels?.['opsbot.dev/expires-at'])).toBe(before);
    expect(
      await click(bot.url, world, { actionId: 'preview.extend', value: 'tick', user: USERS.developer }),
    ).toBe(200);
    await world.slack.waitFor(() => {
      const after = Number(ns('preview-tick')?.metadata.labels?.['opsbot.dev/expires-at']);
      return after - before === 8 * 3600;
    }, 15_000);
    const extended = await world.github.waitFor(
      () =>
        auditRecords(world).find(
          (r) => r.action === 'env.extend' && r.target === 'tick' && r.outcome === 'executed',
        ),
      15_000,
    );
    expect(extended).toMatchObject({ outcome: 'executed', requester: { id: USERS.developer.id } });

    await run('env close ops-one', USERS.oncall);
    // Long enough to outlive its own rollout (a few 600 ms steps) on a loaded machine, then it expires.
    expect(await run('env open flash --ttl 8s', USERS.oncall)).toMatchObject({ outcome: 'executed' });
    await world.slack.waitFor(() => ns('preview-flash') === undefined, 20_000);
    await lastMessage('Preview flash expired');
    const expired = await world.github.waitFor(
      () => auditRecords(world).find((r) => r.action === 'env.expire' && r.target === 'flash'),
      15_000,
    );
    expect(expired).toMatchObject({ outcome: 'expired', requester: { id: USERS.oncall.id } });
  });
});
