import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordsFor, until } from '../faults/support.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { slash, startWorld, type World } from '../helpers/world.js';

/** A thread's nice value: field 19 of its stat, counted after the parenthesised name. */
function niceOf(pid: number, thread = pid): number {
  const stat = readFileSync(`/proc/${pid}/task/${thread}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

describe('opsbot start: one process that answers on its main thread and runs the jobs on a worker thread', () => {
  let world: World;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    world = await startWorld();
  });

  afterAll(async () => {
    await bot?.stop('SIGKILL');
    await world?.close();
  });

  it('answers on the main thread, runs jobs on the worker thread, restarts a dead worker and stops both', async () => {
    // The default worker priority (the world lowers it to 0 for the other tests). The failpoint ends
    // the worker thread alone, as an uncaught error in a job would, before the command's record.
    const { OPSBOT_WORKER_NICE: _nice, ...env } = world.env;
    bot = await startBotProcess({
      ...env,
      OPSBOT_FAILPOINTS: 'command.before-audit=crash-thread',
      OPSBOT_JOB_LOCK_MS: '2000',
    });
    const pid = bot.child.pid as number;
    const ready = bot.lines.find((l) => l.msg === 'worker thread ready');
    const tid = Number(ready?.tid);
    // One process: the worker is a thread of it, with a task id of its own.
    expect(tid).toBeGreaterThan(0);
    expect(tid).not.toBe(pid);
    expect(readdirSync(`/proc/${pid}/task`).map(Number)).toContain(tid);
    expect(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()).toBe('');
    // The ack goes first on a busy machine: the worker thread runs 10 nice steps below the main thread.
    expect(niceOf(pid, tid)).toBe(Math.min(19, niceOf(pid) + 10));
    expect(niceOf(pid)).toBe(0);
    expect(bot.lines.find((l) => l.msg === 'opsbot started')?.process).toBe('web');
    // Each thread collects its start-up garbage once, one after the other: V8's expose-gc flag is
    // the process's, and a collection that overlapped the other thread's was skipped.
    for (const thread of ['web', 'worker'])
      await bot.waitForLog((l) => l.msg === 'start-up garbage collection' && l.process === thread, 5_000);
    const byThread = bot.lines.filter((l) => l.msg === 'start-up garbage collection');
    expect(byThread.map((l) => [l.process, l.collected])).toEqual([
      ['worker', true],
      ['web', true],
    ]);

    const res = await slash(bot.url, world, 'restart api --env staging --reason "split test"');
    expect(res.body.text).toMatch(/^Accepted: restart api in staging/);
    const jobId = /\(job (cmd-[0-9a-f]+)\)/.exec(res.body.text ?? '')?.[1];
    expect(jobId).toBeDefined();
    const started = await bot.waitForLog((l) => l.msg === 'command started', 20_000);
    expect(started.process).toBe('worker');

    // The worker dies alone at the failpoint: the process answers on, and starts a new worker.
    await bot.waitForLog((l) => String(l.msg).startsWith('worker thread died'), 20_000);
    expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
    const again = await bot.waitForLog(
      (l) => l.msg === 'worker thread ready' && l.threadId !== ready?.threadId,
      45_000,
    );
    expect(Number(again.tid)).not.toBe(tid);
    const ready2 = await fetch(`${bot.url}/readyz`);
    const body = (await ready2.json()) as { checks: { name: string; ok: boolean }[] };
    expect(body.checks.find((c) => c.name === 'worker')).toEqual({ name: 'worker', ok: true });
    expect(ready2.status).toBe(200);

    // The command the dead worker held goes back to the queue and runs once, in the new worker.
    const records = await until(
      () => recordsFor(world, 'api').length > 0 && recordsFor(world, 'api'),
      45_000,
      'the record of the command the dead worker held',
    );
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ action: 'restart', outcome: 'executed', id: `${jobId}-executed` });
    // The record and the reply say what happened to api, once, not that the dead worker failed it.
    expect(String(records[0]?.message)).toMatch(/^Restarted api in staging; rollout \w+\./);
    const replies = await until(
      () => {
        const found = world.slack
          .messages('COPS')
          .filter((m) => JSON.stringify(m.blocks).includes(`job ${jobId}`));
        return found.length > 0 && found;
      },
      15_000,
      'the reply to the command the dead worker held',
    );
    expect(replies).toHaveLength(1);
    expect(replies[0]?.text).toMatch(/^Restarted api in staging; rollout \w+\./);

    const res2 = await slash(bot.url, world, 'restart worker --env staging --reason "after restart"');
    expect(res2.body.text).toMatch(/^Accepted: restart worker in staging/);
    const records2 = await until(
      () => recordsFor(world, 'worker').length > 0 && recordsFor(world, 'worker'),
      30_000,
      'the record of the command run by the new worker',
    );
    expect(records2[0]).toMatchObject({ action: 'restart', outcome: 'executed' });

    // /metrics is the unit's: the worker's action durations appear in the main thread's answer, and
    // the process's own figures are counted once.
    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    expect(metrics).toMatch(
      /opsbot_action_duration_seconds_count\{command="restart",outcome="executed"\} [1-9]/,
    );
    const reported = Number(/^opsbot_process_resident_memory_bytes (\S+)$/m.exec(metrics)?.[1]);
    const resident =
      Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
    expect(reported / resident).toBeGreaterThan(0.7);
    expect(reported / resident).toBeLessThan(1.3);

    const code = await bot.stop('SIGTERM');
    expect(code).toBe(0);
    expect(bot.lines.some((l) => l.msg === 'worker thread started')).toBe(true);
    bot = undefined;
  }, 150_000);

  it('leaves out what the worker thread cannot answer, says why, and still answers /metrics and /readyz', async () => {
    // The worker fails the metrics question: /metrics answers with the main thread's figures alone.
    bot = await startBotProcess({ ...world.env, OPSBOT_FAILPOINTS: 'worker.answer-metrics=throw' });
    const res = await slash(bot.url, world, 'status api --env staging');
    const jobId = /\(job (cmd-[0-9a-f]+)\)/.exec(res.body.text ?? '')?.[1];
    expect(jobId).toBeDefined();
    await until(
      () => world.slack.messages('COPS').some((m) => JSON.stringify(m.blocks).includes(`job ${jobId}`)),
      20_000,
      'the reply of the status job the worker thread ran',
    );
    const metrics = await fetch(`${bot.url}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/^opsbot_http_request_duration_seconds_count\{route="slack",status="200"\} [1-9]/m);
    // The status job's duration is the worker's figure: left out, not half-aggregated.
    expect(text).not.toMatch(/opsbot_action_duration_seconds_count\{command="status"/);
    const gaveNone = await bot.waitForLog((l) => l.msg === 'the worker thread did not give its metrics');
    expect(String((gaveNone.err as { message?: string })?.message)).toMatch(
      /failpoint worker\.answer-metrics failed this call/,
    );
    expect((await fetch(`${bot.url}/readyz`)).status).toBe(200);
    expect(await bot.stop('SIGTERM')).toBe(0);

    // The worker fails the readiness question: /readyz names the worker as not ready.
    bot = await startBotProcess({ ...world.env, OPSBOT_FAILPOINTS: 'worker.answer-readiness=throw' });
    const ready = await fetch(`${bot.url}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { status: string; checks: { name: string; ok: boolean }[] };
    expect(body.status).toBe('not ready');
    expect(body.checks).toContainEqual({ name: 'worker', ok: false });
    expect(body.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['worker']);
    const failed = await bot.waitForLog(
      (l) => l.msg === 'readiness check failed' && l.dependency === 'worker',
    );
    expect(String(failed.error)).toMatch(/failpoint worker\.answer-readiness failed this call/);
    expect((await fetch(`${bot.url}/metrics`)).status).toBe(200);
    expect(await bot.stop('SIGTERM')).toBe(0);
    bot = undefined;
  }, 120_000);

  it('keeps one process with OPSBOT_PROCESSES=one', async () => {
    bot = await startBotProcess({ ...world.env, OPSBOT_PROCESSES: 'one' });
    expect(bot.lines.some((l) => l.msg === 'worker thread ready')).toBe(false);
    expect(bot.lines.find((l) => l.msg === 'opsbot started')?.process).toBe('all');
    const res = await slash(bot.url, world, 'restart web --env staging --reason "one process"');
    expect(res.body.text).toMatch(/^Accepted: restart web in staging/);
    const started = await bot.waitForLog((l) => l.msg === 'command started', 20_000);
    expect(started.process).toBe('all');
    expect(await bot.stop('SIGTERM')).toBe(0);
    bot = undefined;
  }, 90_000);
});
