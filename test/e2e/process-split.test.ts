import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordsFor, until } from '../faults/support.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { slash, startWorld, type World } from '../helpers/world.js';

/** A process's (or thread's) nice value: field 19 of its stat, counted after the parenthesised name. */
function niceOf(pid: number, thread = pid): number {
  const stat = readFileSync(`/proc/${pid}/task/${thread}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** The nice value of every thread of a process: on Linux each thread has its own. */
function threadNices(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => niceOf(pid, Number(tid)));
}

/** The parent pid of a process, from /proc; undefined once it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    return Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}

describe('opsbot start: a web process that answers and a worker process that runs the jobs', () => {
  let world: World;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    world = await startWorld();
  });

  afterAll(async () => {
    await bot?.stop('SIGKILL');
    await world?.close();
  });

  it('answers in the web process, runs jobs in its worker, restarts a dead worker and stops both', async () => {
    // The default worker priority (the world lowers it to 0 for the other tests).
    const { OPSBOT_WORKER_NICE: _nice, ...env } = world.env;
    bot = await startBotProcess(env);
    const ready = bot.lines.find((l) => l.msg === 'worker process ready');
    const workerPid = Number(ready?.pid);
    expect(workerPid).toBeGreaterThan(0);
    expect(workerPid).not.toBe(bot.child.pid);
    expect(parentOf(workerPid)).toBe(bot.child.pid);
    // The ack goes first on a busy machine: the worker runs 10 nice steps below the web process.
    const lowered = Math.min(19, niceOf(bot.child.pid as number) + 10);
    expect(niceOf(workerPid)).toBe(lowered);
    // All of its threads: V8's GC and compiler threads and libuv's pool, not only the main one.
    const nices = threadNices(workerPid);
    expect(nices.length).toBeGreaterThan(4);
    expect(new Set(nices)).toEqual(new Set([lowered]));
    expect(bot.lines.find((l) => l.msg === 'opsbot started')?.process).toBe('web');

    const res = await slash(bot.url, world, 'restart api --env staging --reason "split test"');
    expect(res.body.text).toMatch(/^Accepted: restart api in staging/);
    const started = await bot.waitForLog((l) => l.msg === 'command started', 20_000);
    expect(started.process).toBe('worker');
    await until(() => recordsFor(world, 'api').length > 0, 20_000, 'the restart record');

    // A worker that dies alone is started again, and the unit is ready only with it.
    process.kill(workerPid, 'SIGKILL');
    await bot.waitForLog((l) => String(l.msg).startsWith('worker process died'), 10_000);
    const again = await bot.waitForLog(
      (l) => l.msg === 'worker process ready' && l.pid !== workerPid,
      45_000,
    );
    const ready2 = await fetch(`${bot.url}/readyz`);
    const body = (await ready2.json()) as { checks: { name: string; ok: boolean }[] };
    expect(body.checks.find((c) => c.name === 'worker')).toEqual({ name: 'worker', ok: true });
    expect(ready2.status).toBe(200);

    const res2 = await slash(bot.url, world, 'restart worker --env staging --reason "after restart"');
    expect(res2.body.text).toMatch(/^Accepted: restart worker in staging/);
    const records = await until(
      () => recordsFor(world, 'worker').length > 0 && recordsFor(world, 'worker'),
      30_000,
      'the record of the command run by the new worker',
    );
    expect(records[0]).toMatchObject({ action: 'restart', outcome: 'executed' });

    // /metrics is the unit's: the worker's action durations appear in the web process's answer.
    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    expect(metrics).toMatch(/opsbot_action_duration_seconds_count\{command="restart",outcome="executed"\} 1/);

    const code = await bot.stop('SIGTERM');
    expect(code).toBe(0);
    expect(parentOf(Number(again.pid))).toBeUndefined();
    bot = undefined;
  }, 150_000);

  it('keeps one process with OPSBOT_PROCESSES=one', async () => {
    bot = await startBotProcess({ ...world.env, OPSBOT_PROCESSES: 'one' });
    expect(bot.lines.some((l) => l.msg === 'worker process ready')).toBe(false);
    expect(bot.lines.find((l) => l.msg === 'opsbot started')?.process).toBe('all');
    const res = await slash(bot.url, world, 'restart web --env staging --reason "one process"');
    expect(res.body.text).toMatch(/^Accepted: restart web in staging/);
    const started = await bot.waitForLog((l) => l.msg === 'command started', 20_000);
    expect(started.process).toBe('all');
    expect(await bot.stop('SIGTERM')).toBe(0);
    bot = undefined;
  }, 90_000);
});
