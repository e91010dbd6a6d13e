import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, type LogLine, startBotProcess } from '../helpers/bot-process.js';
import { auditRecords, DEFAULT_CONFIG, slash, startWorld, USERS, type World } from '../helpers/world.js';

const CONFIG = `${DEFAULT_CONFIG}
rollout: { timeout: 30s, pollInterval: 1s }
`;

interface Dep {
  spec: { replicas: number; template: { metadata?: { annotations?: Record<string, string> } } };
}

describe('cluster actions with live progress', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    // Rollouts advance one pod every 250 ms, so progress is visible.
    world = await startWorld({ config: CONFIG, rolloutStepMs: 250 });
    bot = await startBotProcess(world.env);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  const jobOf = (text: string | undefined) => /job (cmd-[0-9a-f]+)/.exec(text ?? '')?.[1] ?? '';
  const recordOf = (jobId: string) =>
    world.github.waitFor(
      () => auditRecords(world).find((r) => r.jobId === jobId && r.outcome !== 'requested'),
      30_000,
    );

  it('restarts as kubectl rollout restart does and follows the rollout in one updating message', async () => {
    const ack = await slash(bot.url, world, 'restart api --env staging --reason "stuck workers"');
    const record = await recordOf(jobOf(ack.body.text));
    expect(record).toMatchObject({ outcome: 'executed', action: 'restart', rollout: { state: 'complete' } });

    const patch = world.kube.requests.find(
      (r) => r.method === 'PATCH' && r.path.endsWith('/deployments/api') && !r.query.dryRun,
    )!;
    expect(patch.contentType).toBe('application/strategic-merge-patch+json');
    const api = world.kube.getDeployment('apps', 'api') as Dep;
    expect(api.spec.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    );

    const msg = world.slack.messages('COPS').find((m) => m.text?.startsWith('Restarted api in staging'))!;
    const texts = msg.versions.map((v) => v.text);
    // Started, at least one progress line from the watch, then the final state.
    expect(texts.filter((t) => t?.startsWith('api: ')).length).toBeGreaterThan(0);
    expect(texts.at(-1)).toBe('Restarted api in staging; rollout complete.');
    expect(world.slack.stats().maxPerChannelPerSecond).toBeLessThanOrEqual(2);
  });

  it('scales through the scale subresource within the environment bounds', async () => {
    const ack = await slash(bot.url, world, 'scale worker 4 --env staging');
    const record = await recordOf(jobOf(ack.body.text));
    expect(record).toMatchObject({ outcome: 'executed', before: { replicas: 2 }, after: { replicas: 4 } });
    expect(
      world.kube.requests.some((r) => r.method === 'PUT' && r.path.endsWith('/deployments/worker/scale')),
    ).toBe(true);
    expect((world.kube.getDeployment('apps', 'worker') as Dep).spec.replicas).toBe(4);

    const out = await slash(bot.url, world, 'scale worker 99 --env prod --reason "way too many"');
    expect(out.body.text).toBe('prod allows between 2 and 50 replicas; 99 is outside that.');
  });

  it('answers status and history as kubectl shows them', async () => {
    await slash(bot.url, world, 'status web --env staging', { user: USERS.developer });
    const status = await world.slack.waitFor(() =>
      world.slack.messages('COPS').find((m) => m.text?.startsWith('web in staging: 2/2 ready')),
    );
    const blocks = JSON.stringify(status.blocks);
    expect(blocks).toContain('desired 2 · updated 2 · ready 2 · available 2');
    expect(blocks).toContain('web=ghcr.io/acme/web');
    expect(blocks).toContain('Available=True');

    await slash(bot.url, world, 'history api --env staging', { user: USERS.developer });
    const history = await world.slack.waitFor(() =>
      world.slack
        .messages('COPS')
        .find((m) => m.text?.startsWith('api in staging:') && m.text.includes('revisions')),
    );
    const lines = JSON.stringify(history.blocks);
    expect(lines).toContain('ghcr.io/acme/api:1.4.0');
    expect(lines).toContain('ghcr.io/acme/api:1.5.0');
    expect(lines).toContain('← current');
  });

  it('shows whoami and a help that lists only what the user may run', async () => {
    const me = await slash(bot.url, world, 'whoami', { user: USERS.developer });
    expect(me.body.text).toBe('You hold: developer');
    expect(JSON.stringify(me.body)).toContain('`restart` in staging');
    const help = JSON.stringify((await slash(bot.url, world, 'help', { user: USERS.developer })).body);
    expect(help).toContain('/ops status');
    expect(help).not.toContain('/ops rollback');
    const nobody = await slash(bot.url, world, 'whoami', { user: USERS.stranger });
    expect(nobody.body.text).toBe('You hold no opsbot role.');
  });

  it('runs 20 simultaneous requests on one deployment one at a time, ending in a correct state', async () => {
    const sizes = Array.from({ length: 20 }, (_, i) => 2 + (i % 7));
    const acks = await Promise.all(sizes.map((n) => slash(bot.url, world, `scale web ${n} --env staging`)));
    const jobs = acks.map((a) => jobOf(a.body.text));
    expect(new Set(jobs).size).toBe(20);
    const records = await world.github.waitFor(() => {
      const found = auditRecords(world).filter((r) => jobs.includes(String(r.jobId)));
      return found.length === 20 ? found : undefined;
    }, 120_000);
    expect(records.every((r) => r.outcome === 'executed' || r.outcome === 'noop')).toBe(true);

    // The spans in which the 20 jobs held the target's lock ("started" to "releasing lock") never overlap.
    const at = (line: LogLine) => Date.parse(String(line.time));
    const spans = jobs.map((id) => {
      const start = bot.lines.find((l) => l.jobId === id && l.msg === 'command started')!;
      const end = bot.lines.find((l) => l.jobId === id && l.msg === 'command releasing lock')!;
      return [at(start), at(end)] as const;
    });
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);

    // The final replica count is what the last job to run asked for.
    const last = records
      .filter((r) => r.outcome === 'executed')
      .sort((a, b) => String(a.time).localeCompare(String(b.time)))
      .at(-1)!;
    expect((world.kube.getDeployment('apps', 'web') as Dep).spec.replicas).toBe(
      (last.after as { replicas: number }).replicas,
    );
    // Requesters waiting behind another action were told what they waited for.
    expect(
      world.slack
        .messages('COPS')
        .some((m) => m.versions.some((v) => v.text?.startsWith('Waiting behind scale web in staging'))),
    ).toBe(true);
  }, 150_000);
});
