import { z } from 'zod';
import { Duration } from '../core/duration.js';
import { Dns1123Label, RepoSlug, SlackMember } from '../core/names.js';

/** A permission name; which ones exist is known from the registered commands (see withKnownActions). */
const ActionName = z.string().min(1);

const placeholdersOnly = (text: string) =>
  (text.match(/\{[^}]*\}/g) ?? []).every((p) => ['{email}', '{slackId}', '{role}'].includes(p));

/** Act as the requester in Kubernetes: Impersonate-User and Impersonate-Group, after a SubjectAccessReview. */
export const Impersonate = z.strictObject({
  /** `{email}` (opsbot.yml `users`, else the Slack profile) or `{slackId}`. */
  user: z
    .string()
    .min(1)
    .refine((u) => placeholdersOnly(u) && !u.includes('{role}'), 'may use only {email} and {slackId}')
    .default('{email}'),
  /** `{role}` gives one group per opsbot role the requester holds, e.g. "opsbot:{role}". */
  groups: z
    .array(z.string().min(1).refine(placeholdersOnly, 'may use only {email}, {slackId} and {role}'))
    .default([]),
});
export type Impersonate = z.infer<typeof Impersonate>;

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
  /** When set, opsbot acts here as the requester (read-only commands too), checked first with a SubjectAccessReview. */
  impersonate: Impersonate.optional(),
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
  /** A re-fire within this long after resolution reopens the incident (a flap) instead of opening a new one. */
  reopenWindow: Duration.default(3_600_000),
  /** A resolved incident's channel is archived after this long. */
  archiveAfter: Duration.default(86_400_000),
  /** Channel name template: {{prefix}}, {{date}} (YYYYMMDD), {{title}}, {{severity}} and any alert label. */
  channelName: z.string().min(1).default('{{prefix}}-{{date}}-{{title}}'),
  /** Slack allows about 20 conversations.create per minute; shared by every replica. */
  channelCreateLimit: z
    .strictObject({ count: z.int().positive(), per: Duration })
    .default({ count: 20, per: 60_000 }),
  severityLabel: z.string().min(1).default('severity'),
  /** Labels commands in an incident channel take their --env and <deployment> defaults from. */
  envLabel: z.string().min(1).default('env'),
  deploymentLabel: z.string().min(1).default('deployment'),
  namespaceLabel: z.string().min(1).default('namespace'),
  clusterLabel: z.string().min(1).default('cluster'),
  /** Alert label values (of envLabel) that name an opsbot environment differently, e.g. production: prod. */
  environmentMap: z.record(z.string(), z.string()).default({}),
  /** The environment of incidents whose labels name none (manual ones included), for defaults and policy. */
  environment: z.string().min(1).optional(),
  /** Alerts kept in one incident's record (the most recent); older ones are dropped but still counted. */
  maxAlerts: z.int().min(10).default(200),
  /**
   * Alerts of different sources about the same problem join one open incident: those whose labels
   * agree on `labels` (by default alertname and the envLabel and deploymentLabel labels), within
   * `window` of the incident's opening.
   */
  correlation: z
    .strictObject({
      labels: z.array(z.string().min(1)).min(1).optional(),
      window: Duration.default(900_000),
    })
    .default({ window: 900_000 }),
  /** Where a Grafana contact point's "Test" notification is acknowledged (a channel id or #name); without it, only logged. */
  testChannel: z.string().min(1).optional(),
  /** Postmortem drafts as pull requests: into `repo` under `dir`, opened on every resolve when `auto`. */
  postmortem: z
    .strictObject({
      repo: RepoSlug,
      dir: z
        .string()
        .regex(/^[A-Za-z0-9._/-]*$/, 'must be a folder path such as postmortems')
        .refine((d) => !d.split('/').includes('..'), 'must not contain ".."')
        .default('postmortems'),
      auto: z.boolean().default(false),
    })
    .optional(),
  /** After an action on an incident, its alerts are watched this long for a verdict, checked every `every`. */
  verify: z
    .strictObject({ window: Duration.default(600_000), every: Duration.default(15_000) })
    .default({ window: 600_000, every: 15_000 }),
  /** Alertmanager's API, asked for an incident's alerts when judging an action (GET /api/v2/alerts). */
  alertmanager: z.strictObject({ url: z.url({ protocol: /^https?$/ }) }).optional(),
});

export const Preview = z.strictObject({
  template: z.string().min(1),
  host: z.string().includes('{{name}}', { message: 'must contain {{name}}' }),
  ttl: Duration.default(8 * 3_600_000),
  maxTtl: Duration.default(72 * 3_600_000),
  maxPerUser: z.int().positive().default(3),
  maxTotal: z.int().positive().default(50),
  /** The opsbot environment whose kube context and permissions govern previews, e.g. staging. */
  environment: z.string().min(1),
  /** The owner is warned this long before expiry, with an Extend button. */
  warnBefore: Duration.default(30 * 60_000),
  /** The repository `--pr <number>` refers to; the environment's URL is commented on the PR there. */
  repo: RepoSlug.optional(),
  /** The image repository; {{image}} renders as `<image>:<tag>`. */
  image: z
    .string()
    .regex(/^[a-z0-9]+([._/:-][a-z0-9]+)*$/, 'must be an image repository such as ghcr.io/acme/web')
    .optional(),
  /** The tag used when neither --pr nor --ref is given. */
  defaultTag: z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/)
    .default('latest'),
  /** How often the reaper looks for expired environments. */
  reapEvery: Duration.default(60_000),
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
    /** Slack user id → the name Kubernetes knows them by; overrides the Slack profile's email for `{email}`. */
    users: z
      .record(
        z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'must be a Slack user id such as U012ABCDEF'),
        z.string().min(1),
      )
      .default({}),
    audit: Audit,
    incidents: Incidents.optional(),
    preview: Preview.optional(),
    approvals: Approvals.default({ ttl: 15 * 60_000 }),
    rollout: Rollout.default({ timeout: 5 * 60_000, pollInterval: 1_000 }),
    /** Slash commands and buttons per user in each window; more are refused and summarised in the audit trail. */
    rateLimit: z
      .strictObject({ count: z.int().positive(), per: Duration })
      .default({ count: 30, per: 60_000 }),
    /** Where the runbooks are, relative to this file's folder. */
    runbooks: z.strictObject({ dir: z.string().min(1).default('runbooks') }).default({ dir: 'runbooks' }),
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
    if (config.preview) checkEnv(config.preview.environment, ['preview', 'environment']);
    if (config.incidents?.environment) checkEnv(config.incidents.environment, ['incidents', 'environment']);
  });
export type OpsbotConfig = z.infer<typeof OpsbotConfig>;

/**
 * The config schema that also refuses grants of actions no registered command checks, naming the
 * key: a typo such as "rolback" would otherwise grant nothing, silently.
 */
export function withKnownActions(known: readonly string[]) {
  const set = new Set(known);
  return OpsbotConfig.superRefine((config, ctx) => {
    for (const [roleName, role] of Object.entries(config.roles)) {
      role.can.forEach((grant, i) => {
        grant.actions.forEach((action, j) => {
          if (!set.has(action)) {
            ctx.addIssue({
              code: 'custom',
              path: ['roles', roleName, 'can', i, 'actions', j],
              message: `unknown action "${action}"; known: ${[...set].join(', ')}`,
            });
          }
        });
      });
    }
  });
}
