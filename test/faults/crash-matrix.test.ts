import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { previewLabels } from '../../src/core/preview.js';
import { RESUMED_NOTE } from '../../src/engine/command-module.js';
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
import { until } from './support.js';

/**
 * The crash-point matrix (issue: honest outcomes). For every mutating command and every named
 * failpoint, the bot runs as its own process and dies hard (SIGKILL) at that point; a second
 * process takes over. Each cell asserts what an on-call engineer would read afterwards: the effect
 * happened exactly once, there is exactly one final record and it says "executed", and the last
 * Slack message of the job agrees with it.
 */

const CONFIG = (dir: string) => `
environments:
  staging: { context: staging, namespace: apps }
  prod: { context: prod, namespace: apps, protected: true }
roles:
  oncall:
    members: [${USERS.oncall.id}, "@sre-oncall"]
    can:
      - actions: [rollback, restart, scale, pause, resume, status, history, run, env.open, env.close, env.extend, env.list]
        environments: [staging, prod]
    approve: [prod]
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
rollout: { timeout: 30s, pollInterval: 1s }
runbooks: { dir: ${join(dir, 'runbooks')} }
preview:
  environment: staging
  template: ${resolve('runbooks/preview')}
  host: "{{name}}.preview.test"
  image: ghcr.io/acme/web
  ttl: 2h
  maxTtl: 72h
`;

const RUNBOOK = `
name: restart-then-scale
description: Restart api, then scale it to 4
steps:
  - kind: restart
    deployment: api
  - kind: scale
    deployment: api
    replicas: 4
`;

/** How the job's effect shows on the fake API server: its writes, which must number exactly one. */
type Effects = (world: World) => Record<string, number>;

interface CommandCase {
  name: string;
  text: string;
  /** Failpoints named after the command (`<name>.before-patch` …), besides the shared ones. */
  own: string[];
  /** What the final record and the last message start with. */
  says: RegExp;
  effects: Effects;
  /** A retry that finds its change in place says so: these failpoints leave the change applied. */
  resumedAfter: string[];
  setup?(world: World): void;
}

const writes = (world: World, method: string, path: RegExp) =>
  world.kube.requests.filter((r) => r.method === method && path.test(r.path) && r.query.dryRun === undefined)
    .length;

const deploymentEffects: Effects = (world) => ({
  'PATCH api': writes(world, 'PATCH', /\/deployments\/api$/),
});

function seedPreview(world: World): void {
  world.kube.ensureNamespace(
    'preview-feat',
    previewLabels({
      name: 'feat',
      owner: { id: USERS.oncall.id, name: USERS.oncall.name },
      expiresAt: Date.now() + 3_600_000,
      channel: 'COPS',
      url: 'https://feat.preview.test',
    }),
  );
}

const COMMANDS: CommandCase[] = [
  {
    name: 'rollback',
    text: 'rollback api --env staging --reason "crash test"',
    own: ['rollback.before-patch', 'rollback.after-patch'],
    says: /^Rolled back to revision 2/,
    effects: deploymentEffects,
    resumedAfter: ['rollback.after-patch'],
  },
  {
    name: 'restart',
    text: 'restart api --env staging --reason "crash test"',
    own: ['restart.before-patch', 'restart.after-patch'],
    says: /^Restarted api in staging/,
    effects: deploymentEffects,
    resumedAfter: ['restart.after-patch'],
  },
  {
    name: 'scale',
    text: 'scale api 5 --env staging --reason "crash test"',
    own: ['scale.before-patch', 'scale.after-patch'],
    says: /^Scaled api in staging to 5/,
    effects: (world) => ({ 'PUT api/scale': writes(world, 'PUT', /\/deployments\/api\/scale$/) }),
    resumedAfter: ['scale.after-patch'],
  },
  {
    name: 'pause',
    text: 'pause api --env staging --reason "crash test"',
    own: ['pause.before-patch', 'pause.after-patch'],
    says: /^Paused rollouts of api in staging/,
    effects: deploymentEffects,
    resumedAfter: ['pause.after-patch'],
  },
  {
    name: 'resume',
    text: 'resume web --env staging --reason "crash test"',
    own: ['resume.before-patch', 'resume.after-patch'],
    says: /^Resumed rollouts of web in staging/,
    effects: (world) => ({ 'PATCH web': writes(world, 'PATCH', /\/deployments\/web$/) }),
    resumedAfter: ['resume.after-patch'],
    setup: (world) => {
      const web = world.kube.getDeployment('apps', 'web') as { spec: Record<string, unknown> };
      world.kube.applyDeployment('apps', { ...web, spec: { ...web.spec, paused: true } }, { settle: true });
    },
  },
  {
    name: 'env open',
    text: 'env open feat --ttl 2h',
    own: ['env-open.before-patch', 'env-open.after-patch'],
    says: /^Opened preview feat/,
    effects: (world) => ({ 'POST namespace': writes(world, 'POST', /^\/api\/v1\/namespaces$/) }),
    resumedAfter: [],
  },
  {
    name: 'env extend',
    text: 'env extend feat --ttl 1h',
    own: ['env-extend.before-patch', 'env-extend.after-patch'],
    says: /^Extended preview feat/,
    effects: (world) => ({
      'PATCH namespace': writes(world, 'PATCH', /^\/api\/v1\/namespaces\/preview-feat$/),
    }),
    resumedAfter: ['env-extend.after-patch'],
    setup: seedPreview,
  },
  {
    name: 'env close',
    text: 'env close feat',
    own: ['env-close.before-patch', 'env-close.after-patch'],
    says: /^Closed preview feat/,
    effects: (world) => ({
      'DELETE namespace': writes(world, 'DELETE', /^\/api\/v1\/namespaces\/preview-feat$/),
    }),
    resumedAfter: ['env-close.after-patch'],
    setup: seedPreview,
  },
  {
    name: 'run',
    text: 'run restart-then-scale --env staging --reason "crash test"',
    own: ['run.before-patch', 'run.after-patch', 'run.between-steps'],
    says: /^restart-then-scale finished: 2 of 2 steps done/,
    effects: (world) => ({
      ...deploymentEffects(world),
      'PUT api/scale': writes(world, 'PUT', /\/deployments\/api\/scale$/),
    }),
    resumedAfter: [],
  },
];

const SHARED_POINTS = [
  'command.before-audit',
  'command.after-audit',
  'command.before-reply',
  'command.after-reply',
  'audit.before-write',
  'audit.after-write',
];

interface Cell {
  command: CommandCase;
  point: string;
  /** Through a protected environment: the crash falls between the approval and its job. */
  approval?: boolean;
  /** What else happens on the cluster while no process is running the job. */
  meanwhile?(world: World): void;
}

const CELLS: Cell[] = [
  ...COMMANDS.flatMap((command) => [...command.own, ...SHARED_POINTS].map((point) => ({ command, point }))),
  {
    command: {
      ...(COMMANDS[0] as CommandCase),
      name: 'rollback (approved)',
      text: 'rollback api --env prod --reason "crash test"',
    },
    point: 'approval.before-enqueue',
    approval: true,
  },
  {
    // A pod fails and recovers before the retry: the status moved, the spec did not, so it still rolls back.
    command: { ...(COMMANDS[0] as CommandCase), name: 'rollback (pods churned before the retry)' },
    point: 'rollback.before-patch',
    meanwhile: (world) => {
      world.kube.setPodTrouble('apps', 'api', { notReady: 1 });
      world.kube.setPodTrouble('apps', 'api', {});
    },
  },
];

const FINAL = new Set(['executed', 'noop', 'failed', 'unknown']);
const results: { cell: string; result: string; seconds: number }[] = [];

// One thread per bot: a failpoint kills the whole process either way (the worker thread of
// src/supervisor.ts is part of it), and 148 bot starts at half the cost keep CI in budget.
// The worker thread under crashes is covered by test/e2e/process-split.test.ts and worker-crash.
const BOT_ENV = { OPSBOT_JOB_LOCK_MS: '2000', OPSBOT_PROCESSES: 'one' };

async function runCell(cell: Cell): Promise<void> {
  const world = await startWorld({ config: 'placeholder', rolloutStepMs: 60 });
  writeFileSync(world.env.OPSBOT_CONFIG as string, CONFIG(world.dir));
  mkdirSync(join(world.dir, 'runbooks'));
  writeFileSync(join(world.dir, 'runbooks', 'restart-then-scale.yml'), RUNBOOK);
  cell.command.setup?.(world);
  const bots: BotProcess[] = [];
  try {
    const first = await startBotProcess({
      ...world.env,
      ...BOT_ENV,
      OPSBOT_FAILPOINTS: `${cell.point}=exit`,
    });
    bots.push(first);
    const ack = await slash(first.url, world, cell.command.text);
    expect(ack.body.text, 'the ack').toMatch(/^Accepted: /);
    let jobId = /\(job (cmd-[0-9a-f]+)\)/.exec(ack.body.text ?? '')?.[1] ?? '';
    if (cell.approval) {
      const approvalId = await until(() => approvalIdIn(world), 15_000, 'the approval request');
      expect(await click(first.url, world, { actionId: 'approval.approve', value: approvalId })).toBe(200);
      jobId = `${jobId}-run`;
    }
    // The first process must die at the failpoint, by SIGKILL, and say which one fired.
    await until(() => first.child.signalCode !== null || first.child.exitCode !== null, 30_000, 'the crash');
    expect(first.child.signalCode, 'killed by its failpoint').toBe('SIGKILL');
    expect(first.lines.some((l) => l.msg === 'failpoint fired' && l.failpoint === cell.point)).toBe(true);
    cell.meanwhile?.(world);

    const second = await startBotProcess({ ...world.env, ...BOT_ENV });
    bots.push(second);
    const finals = () =>
      auditRecords(world).filter((r) => FINAL.has(String(r.outcome)) && r.id === `${jobId}-${r.outcome}`);
    await until(() => finals().length > 0, 40_000, `the final record of ${jobId}`);
    const lastMessage = () =>
      world.slack
        .messages('COPS')
        .filter((m) => JSON.stringify(m.blocks ?? []).includes(`job ${jobId}`))
        .at(-1);
    await until(() => cell.command.says.test(lastMessage()?.text ?? ''), 20_000, 'the outcome message');
    // Let any stray retry show itself before counting.
    await new Promise((r) => setTimeout(r, 1_000));

    const records = finals();
    expect(records, 'exactly one final record').toHaveLength(1);
    const record = records[0] as { outcome: string; message: string };
    expect(record.outcome).toBe('executed');
    expect(record.message).toMatch(cell.command.says);
    if (cell.command.resumedAfter.includes(cell.point)) expect(record.message).toContain(RESUMED_NOTE);
    for (const [what, count] of Object.entries(cell.command.effects(world))) {
      expect(count, `${what}: the effect happened exactly once`).toBe(1);
    }
    const text = lastMessage()?.text ?? '';
    expect(text, 'the last Slack message agrees with the record').toMatch(cell.command.says);
    expect(text).not.toMatch(/fail|retrying/i);
    // Runbook steps: one record each, both executed. A step's record may still be in an audit job the
    // killed process held: it is written once that job's lock expires and the next process takes it.
    if (cell.command.name === 'run') {
      const stepRecords = () => auditRecords(world).filter((r) => /-step\d+$/.test(String(r.id)));
      await until(() => stepRecords().length >= 2, 20_000, 'both step records').catch(() => undefined);
      const steps = stepRecords();
      expect(steps.map((r) => `${r.id}:${r.outcome}`).sort()).toEqual([
        `${jobId}-step1:executed`,
        `${jobId}-step2:executed`,
      ]);
    }
  } catch (err) {
    // What each process said, for whoever reads a red CI run.
    const logs = bots.map((b, i) => `--- bot ${i + 1} ---\n${b.raw.slice(-30).join('\n')}`).join('\n');
    throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
  } finally {
    for (const bot of bots) await bot.stop('SIGKILL');
    await world.close();
  }
}

describe('crash-point matrix: every mutating command, killed at every failpoint', () => {
  afterAll(() => {
    const width = Math.max(...results.map((r) => r.cell.length));
    console.log(
      [
        'crash-point matrix:',
        ...results.map((r) => `  ${r.cell.padEnd(width)}  ${r.result}  ${r.seconds}s`),
      ].join('\n'),
    );
  });

  it.concurrent.each(CELLS.map((cell) => [`${cell.command.name} @ ${cell.point}`, cell] as const))(
    '%s',
    // At most `maxConcurrency` cells (vitest.config.ts) run at once: each runs two bot processes.
    async (name, cell) => {
      const started = Date.now();
      try {
        await runCell(cell);
        results.push({ cell: name, result: 'pass', seconds: Math.round((Date.now() - started) / 1000) });
      } catch (err) {
        results.push({ cell: name, result: 'FAIL', seconds: Math.round((Date.now() - started) / 1000) });
        throw err;
      }
    },
    120_000,
  );
});
