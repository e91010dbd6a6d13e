import { z } from 'zod';
import { Reason } from '../src/core/grammar.js';
import { Dns1123Label } from '../src/core/names.js';
import type { Scope } from '../src/engine/command-module.js';

/** The deployment every cluster command acts on. */
export const deploymentArg = { deployment: Dns1123Label };

/** Flags shared by every command that reads a deployment. */
export const readFlags = { env: z.string().min(1) };

/** Flags shared by every command that changes a deployment. */
export const mutatingFlags = {
  env: z.string().min(1),
  reason: Reason.optional(),
  emergency: z.literal(true).optional(),
};

export function mutatingScope(args: {
  env: string;
  deployment: string;
  reason?: string | undefined;
  emergency?: true | undefined;
}): Scope {
  return {
    environment: args.env,
    target: args.deployment,
    reason: args.reason,
    emergency: args.emergency === true,
  };
}

export function age(fromIso: string | undefined, now: number): string {
  if (!fromIso) return '?';
  const seconds = Math.max(0, Math.round((now - Date.parse(fromIso)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}
