import { z } from 'zod';
import { formatDuration } from './duration.js';

/** Whether an action fixed its incident, judged from the incident's alerts after it ran. */
export const Verdict = z.enum(['resolved', 'unchanged', 'worse']);
export type Verdict = z.infer<typeof Verdict>;

export interface VerdictInput {
  /** Alerts (by fingerprint) firing when the action ran. */
  baseline: readonly string[];
  /** Alerts firing now. */
  firing: readonly string[];
  /** The watch window has ended: no more checks follow this one. */
  windowEnded: boolean;
}

/**
 * The verdict of one check, or undefined to keep watching. A new alert in the group is `worse` at
 * once (even if others cleared); nothing firing is `resolved`; still firing at the end is `unchanged`.
 */
export function decideVerdict(input: VerdictInput): Verdict | undefined {
  const before = new Set(input.baseline);
  if (input.firing.some((fingerprint) => !before.has(fingerprint))) return 'worse';
  if (input.firing.length === 0) return 'resolved';
  return input.windowEnded ? 'unchanged' : undefined;
}

/** The line people read in the channel and on the issue, e.g. "Verdict on rollback api in prod: resolved …". */
export function verdictLine(input: {
  verdict: Verdict;
  action: string;
  afterMs: number;
  windowMs: number;
  firing: number;
}): string {
  switch (input.verdict) {
    case 'resolved':
      return `Verdict on ${input.action}: resolved, the alerts cleared ${formatDuration(input.afterMs)} after the action.`;
    case 'unchanged':
      return `Verdict on ${input.action}: unchanged, ${input.firing} alert(s) still firing ${formatDuration(input.windowMs)} after the action.`;
    case 'worse':
      return `Verdict on ${input.action}: worse, new alerts fired in the incident's group ${formatDuration(input.afterMs)} after the action.`;
  }
}
