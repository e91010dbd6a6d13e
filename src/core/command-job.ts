import { z } from 'zod';
import { ParsedInput } from './grammar.js';

export const Person = z.object({ id: z.string().min(1), name: z.string().optional() });
export type Person = z.infer<typeof Person>;

export const ChannelRef = z.object({
  id: z.string().min(1),
  name: z.string().optional(),
  isIncident: z.boolean().optional(),
  /** The environment of the channel's incident: the only one for which it counts as an incident channel. */
  incidentEnvironment: z.string().optional(),
});
export type ChannelRef = z.infer<typeof ChannelRef>;

/**
 * A command accepted from chat, as it sits in Redis. The raw input is kept and re-validated by the
 * command's own schema in the worker, so nothing read back from Redis is trusted unchecked.
 */
export const CommandJob = z.object({
  /** Idempotency key: the same Slack request always yields the same id. */
  id: z.string().min(1),
  command: z.string().min(1),
  input: ParsedInput,
  requester: Person,
  channel: ChannelRef,
  requestedAt: z.number(),
  /** "approval": compute the plan and ask for approval; "run" (default): do it. */
  stage: z.enum(['approval', 'run']).default('run'),
  approver: Person.optional(),
  /** The plan the approver saw was made at this spec version (specVersionOf); refuse if the spec moved. */
  expectedSpecVersion: z.string().optional(),
  /** Only on jobs approved from requests made before specVersion: refuse if anything moved. */
  expectedResourceVersion: z.string().optional(),
  /** Continue in this message (the approval request) instead of posting a new one. */
  progressTs: z.string().optional(),
  emergency: z.boolean().optional(),
  /** Set when the command came from an incident channel: its issue gets a comment per action. */
  incident: z.object({ repo: z.string(), issue: z.number() }).optional(),
});
export type CommandJob = z.infer<typeof CommandJob>;

export type CommandJobInput = z.input<typeof CommandJob>;

/** What a worker remembers between attempts of one job, so a retry never repeats an effect. */
export const Checkpoints = z.record(z.string(), z.unknown());
export type Checkpoints = z.infer<typeof Checkpoints>;
