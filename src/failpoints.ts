/**
 * Named crash points around every external call, as etcd's gofail and TiKV's fail-rs have them.
 * `OPSBOT_FAILPOINTS=rollback.after-patch=exit,audit.before-write=exit` makes the process die
 * hard (SIGKILL, no cleanup) when it reaches one of those points; tests use it to prove that a
 * crash anywhere leaves a true record. Off by default, and then a failpoint is one Map lookup.
 */

/** What a failpoint does when it fires. */
export type FailpointAction = 'exit' | 'off';

const ACTIONS = new Set<FailpointAction>(['exit', 'off']);

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
      throw new Error(`OPSBOT_FAILPOINTS: "${trimmed}" is not name=exit`);
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

/** Marks a point in the code. Does nothing unless the point was armed. */
export function failpoint(name: string): void {
  if (armed === undefined) return;
  if (armed.get(name) !== 'exit') return;
  // Written synchronously: the process is gone a moment later and buffered logs with it.
  process.stderr.write(`${JSON.stringify({ level: 60, msg: 'failpoint fired', failpoint: name })}\n`);
  process.kill(process.pid, 'SIGKILL');
  // The signal lands asynchronously; block so that not one more line of this process runs.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
}
