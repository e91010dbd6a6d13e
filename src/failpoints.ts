import { writeSync } from 'node:fs';

/**
 * Named crash points around every external call, as etcd's gofail and TiKV's fail-rs have them.
 * `OPSBOT_FAILPOINTS=rollback.after-patch=exit,audit.before-write=exit` makes the process die
 * hard (SIGKILL, no cleanup) when it reaches one of those points; tests use it to prove that a
 * crash anywhere leaves a true record. `name=crash-thread` ends only the thread that reaches it, as
 * an uncaught error would: `opsbot start` then restarts its worker thread (src/supervisor.ts).
 * `name=throw` makes the call at that point fail with a FailpointError, as gofail's `return(err)`.
 * Off by default, and then a failpoint is one Map lookup.
 */

/** What a failpoint does when it fires. */
export type FailpointAction = 'exit' | 'crash-thread' | 'throw' | 'off';

const ACTIONS = new Set<FailpointAction>(['exit', 'crash-thread', 'throw', 'off']);

/** What a `throw` failpoint raises: the call at that point fails, and the process goes on. */
export class FailpointError extends Error {
  constructor(readonly failpoint: string) {
    super(`failpoint ${failpoint} failed this call`);
    this.name = 'FailpointError';
  }
}

/** Exit code of a thread that a crash-thread failpoint ended (EX_SOFTWARE). */
export const FAILPOINT_THREAD_EXIT_CODE = 70;

let armed: ReadonlyMap<string, FailpointAction> | undefined;

/** Parses `name=action[,name=action…]`; unknown actions are refused, so a typo never arms nothing silently. */
export function parseFailpoints(spec: string | undefined): Map<string, FailpointAction> {
  const points = new Map<string, FailpointAction>();
  for (const entry of (spec ?? '').split(',')) {
    const trimmed = entry.trim();
    if (!trimmed) continue;
    const eq = trimmed.indexOf('=');
    const name = eq === -1 ? trimmed : trimmed.slice(0, eq);
    const action = (eq === -1 ? 'exit' : trimmed.slice(eq + 1)) as FailpointAction;
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(name) || !ACTIONS.has(action)) {
      throw new Error(`OPSBOT_FAILPOINTS: "${trimmed}" is not name=exit, name=crash-thread or name=throw`);
    }
    points.set(name, action);
  }
  return points;
}

/** Arms the failpoints named in the spec (the OPSBOT_FAILPOINTS variable); an empty spec disarms all. */
export function armFailpoints(spec: string | undefined): void {
  const points = parseFailpoints(spec);
  armed = points.size > 0 ? points : undefined;
}

/** Marks a point in the code. Does nothing unless the point was armed; throws when armed with `throw`. */
export function failpoint(name: string): void {
  if (armed === undefined) return;
  const action = armed.get(name);
  if (action === 'throw') throw new FailpointError(name);
  if (action !== 'exit' && action !== 'crash-thread') return;
  // Written synchronously, from any thread: the process is gone a moment later and buffered logs with it.
  writeSync(2, `${JSON.stringify({ level: 60, msg: 'failpoint fired', failpoint: name, action })}\n`);
  // On a worker thread, process.exit ends that thread at once and nothing else; on the main thread, the process.
  if (action === 'crash-thread') process.exit(FAILPOINT_THREAD_EXIT_CODE);
  process.kill(process.pid, 'SIGKILL');
  // The signal lands asynchronously; block so that not one more line of this process runs.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
}
