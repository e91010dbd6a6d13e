/** Every action a role can be granted. Config, policy and commands all speak these names. */
export const ACTIONS = [
  'rollback',
  'restart',
  'scale',
  'status',
  'history',
  'env.open',
  'env.close',
  'env.extend',
  'env.list',
  /** Close or extend a preview environment someone else opened. */
  'env.close-any',
  'incident.declare',
  'incident.resolve',
  'run',
] as const;

export type Action = (typeof ACTIONS)[number];

/** Actions that change a cluster; they take a reason, a lock on their target, and approval where protected. */
export const MUTATING_ACTIONS: ReadonlySet<Action> = new Set(['rollback', 'restart', 'scale']);

export function isAction(value: string): value is Action {
  return (ACTIONS as readonly string[]).includes(value);
}
