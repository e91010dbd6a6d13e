import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { AUDIT_REPO, auditRecords, slash, startWorld, USERS, type World } from '../helpers/world.js';

/**
 * /ops pause and /ops resume were added as one file and one registration line each; this shows
 * they work as commands and, with no other change, as runbook steps.
 */
const CONFIG = (dir: string) => `
environments:
  staging: { context: staging, namespace: apps }
roles:
  oncall:
    members: [${USERS.oncall.id}]
    can:
      - { actions: [pause, resume, rollback, status, run], environments: [staging] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
runbooks: { dir: ${join(dir, 'runbooks')} }
`;

const RUNBOOK = `
name: hold-web
description: Pause web's rollouts, then let them go again
steps:
  - kind: pause
    deployment: web
  - kind: message
    text: paused for the migration
  - kind: resume
    deployment: web
`;

interface Dep {
  spec: { paused?: boolean };
}

describe('/ops pause and /ops resume', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld({ config: 'placeholder' });
    writeFileSync(world.env.OPSBOT_CONFIG as string, CONFIG(world.dir));
    mkdirSync(join(world.dir, 'runbooks'));
    writeFileSync(join(world.dir, 'runbooks', 'hold-web.yml'), RUNBOOK);
    bot = await startBotProcess(world.env);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  const paused = (name: string) => (world.kube.getDeployment('apps', name) as Dep | undefined)?.spec.paused;
  const run = async (text: string) => {
    const ack = await slash(bot.url, world, text);
    expect(ack.body.text).toMatch(/^Accepted: /);
    const jobId = /job (cmd-[0-9a-f]+)/.exec(ack.body.text ?? '')?.[1];
    return world.github.waitFor(
      () => auditRecords(world).find((r) => r.id === `${jobId}-executed` || r.id === `${jobId}-noop`),
      20_000,
    );
  };
  const patchesTo = (name: string) =>
    world.kube.requests.filter(
      (r) => r.method === 'PATCH' && r.path.endsWith(`/deployments/${name}`) && !r.query.dryRun,
    );

  it('pauses and resumes rollouts with the patches kubectl sends, and says so when there is nothing to do', async () => {
    const pausedRecord = await run('pause api --env staging --reason "db migration"');
    expect(pausedRecord).toMatchObject({ outcome: 'executed', action: 'pause', target: 'api' });
    expect(paused('api')).toBe(true);
    expect(patchesTo('api').at(-1)).toMatchObject({
      contentType: 'application/strategic-merge-patch+json',
      body: { spec: { paused: true } },
    });

    expect(await run('pause api --env staging')).toMatchObject({ outcome: 'noop' });
    // A paused deployment refuses a rollback, as kubectl rollout undo does.
    const refused = await slash(bot.url, world, 'rollback api --env staging');
    const jobId = /job (cmd-[0-9a-f]+)/.exec(refused.body.text ?? '')?.[1];
    const failed = await world.github.waitFor(
      () => auditRecords(world).find((r) => r.id === `${jobId}-failed`),
      20_000,
    );
    expect(String(failed.message)).toMatch(/api is paused; resume it/);

    expect(await run('resume api --env staging')).toMatchObject({ outcome: 'executed', action: 'resume' });
    expect(paused('api')).toBeFalsy();
    expect(patchesTo('api').at(-1)?.body).toEqual({ spec: { paused: null } });
  });

  it('pauses and resumes as runbook steps, with no change but the registration line', async () => {
    const before = patchesTo('web').length;
    const record = await run('run hold-web --env staging');
    expect(record).toMatchObject({
      outcome: 'executed',
      message: expect.stringMatching(/3 of 3 steps done/),
    });
    const steps = auditRecords(world)
      .filter((r) => String(r.id).startsWith(`${record.jobId}-step`))
      .sort((a, b) => String(a.id).localeCompare(String(b.id)));
    expect(steps.map((s) => [s.action, s.outcome])).toEqual([
      ['pause', 'executed'],
      ['run.message', 'executed'],
      ['resume', 'executed'],
    ]);
    expect(
      patchesTo('web')
        .slice(before)
        .map((p) => p.body),
    ).toEqual([{ spec: { paused: true } }, { spec: { paused: null } }]);
    expect(paused('web')).toBeFalsy();
  });
});
