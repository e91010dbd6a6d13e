import { z } from 'zod';
import { ACTIONS } from '../core/actions.js';
import { Duration } from '../core/duration.js';
import { Dns1123Label, RepoSlug, SlackMember } from '../core/names.js';

const ActionName = z.enum(ACTIONS);

export const Environment = z.strictObject({
  /** A kube context from the kubeconfig; omitted means the current context, or in-cluster. */
  context: z.string().min(1).optional(),
  namespace: Dns1123Label,
  /** Mutating actions here need a second person's approval and a reason. */
  protected: z.boolean().default(false),
  scale: z
    .strictObject({ min: z.int().min(0), max: z.int().positive() })
    .refine((s) => s.min <= s.max, { message: 'min must not exceed max' })
    .optional(),
  /** When set, actions on this environment are only taken from these channels (ids, #names, or "incident"). */
  channels: z.array(z.string().min(1)).optional(),
});
export type Environment = z.infer<typeof Environment>;

export const Grant = z.strictObject({
  actions: z.array(ActionName).min(1),
  environments: z.array(z.string().min(1)).min(1),
});
export type Grant = z.infer<typeof Grant>;

export const Role = z.strictObject({
  members: z.array(SlackMember).min(1),
  can: z.array(Grant).default([]),
  /** Environments in which members may approve someone else's request. */
  approve: z.array(z.string().min(1)).default([]),
  /** Environments in which members may skip approval with --emergency (break-glass). */
  emergency: z.array(z.string().min(1)).default([]),
});
export type Role = z.infer<typeof Role>;

export const Audit = z.strictObject({
  repo: RepoSlug,
  branch: z.string().min(1).default('main'),
  dir: z.string().default('audit'),
});
export type Audit = z.infer<typeof Audit>;

export const IncidentRoute = z.strictObject({
  match: z.record(z.string(), z.string()).default({}),
  invite: z.array(SlackMember).default([]),
});

export const Incidents = z.strictObject({
  repo: RepoSlug,
  channelPrefix: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/)
    .default('inc'),
  routes: z.array(IncidentRoute).default([]),
});

export const Preview = z.strictObject({
  template: z.string().min(1),
  host: z.string().includes('{{name}}', { message: 'must contain {{name}}' }),
  ttl: Duration.default(8 * 3_600_000),
  maxTtl: Duration.default(72 * 3_600_000),
  maxPerUser: z.int().positive().default(3),
  maxTotal: z.int().positive().default(50),
});

export const Approvals = z.strictObject({
  ttl: Duration.default(15 * 60_000),
});

export const Rollout = z.strictObject({
  /** How long the bot watches a rollout before calling it timed out. */
  timeout: Duration.default(5 * 60_000),
  /** How often the rollout is read while it is watched. */
  pollInterval: Duration.default(1_000),
});

export const OpsbotConfig = z
  .strictObject({
    environments: z.record(Dns1123Label, Environment).refine((envs) => Object.keys(envs).length > 0, {
      message: 'at least one environment is required',
    }),
    roles: z.record(z.string().min(1), Role).default({}),
    audit: Audit,
    incidents: Incidents.optional(),
    preview: Preview.optional(),
    approvals: Approvals.default({ ttl: 15 * 60_000 }),
    rollout: Rollout.default({ timeout: 5 * 60_000, pollInterval: 1_000 }),
  })
  .superRefine((config, ctx) => {
    const known = new Set(Object.keys(config.environments));
    const checkEnv = (env: string, path: (string | number)[]) => {
      if (!known.has(env)) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `unknown environment "${env}"; known: ${[...known].join(', ')}`,
        });
      }
    };
    for (const [roleName, role] of Object.entries(config.roles)) {
      role.can.forEach((grant, i) => {
        grant.environments.forEach((env, j) => {
          checkEnv(env, ['roles', roleName, 'can', i, 'environments', j]);
        });
      });
      role.approve.forEach((env, j) => {
        checkEnv(env, ['roles', roleName, 'approve', j]);
      });
      role.emergency.forEach((env, j) => {
        checkEnv(env, ['roles', roleName, 'emergency', j]);
      });
    }
  });
export type OpsbotConfig = z.infer<typeof OpsbotConfig>;
