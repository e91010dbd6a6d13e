import { z } from 'zod';
import { Duration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';

const Url = z.url({ protocol: /^https?$/ });
/** An empty variable counts as unset, as shells and container specs often leave them. */
const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v);
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** A Redis node as `host:port`; IPv6 hosts in brackets, as in a URL: `[::1]:26379`. */
const HostPort = z
  .string()
  .trim()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port')
  .transform((v) => {
    const at = v.lastIndexOf(':');
    return { host: v.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(v.slice(at + 1)) };
  })
  .refine((n) => n.port >= 1 && n.port <= 65535, 'port must be 1-65535');
export type HostPort = z.infer<typeof HostPort>;
/** A comma-separated list of host:port, e.g. "redis-0:26379,redis-1:26379". */
const HostPortList = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() !== '' ? v.split(',').filter((s) => s.trim() !== '') : undefined),
  z.array(HostPort).min(1).optional(),
);

/** The process environment opsbot reads, validated once at start-up. */
export const Env = z
  .object({
    SLACK_BOT_TOKEN: optionalText,
    SLACK_SIGNING_SECRET: optionalText,
    SLACK_APP_TOKEN: optionalText,
    SLACK_API_URL: z.preprocess(unsetIfEmpty, Url.default('https://slack.com/api/')),
    /** When set, requests from any other workspace (team_id) are refused, even when correctly signed. */
    SLACK_TEAM_ID: z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .regex(/^[TE][A-Z0-9]+$/)
        .optional(),
    ),
    /** When set, requests for any other Slack app (api_app_id) are refused, even when correctly signed. */
    SLACK_APP_ID: z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .regex(/^A[A-Z0-9]+$/)
        .optional(),
    ),
    GITHUB_TOKEN: optionalText,
    GITHUB_APP_ID: optionalText,
    GITHUB_APP_PRIVATE_KEY: optionalText,
    GITHUB_APP_INSTALLATION_ID: optionalText,
    GITHUB_API_URL: z.preprocess(unsetIfEmpty, Url.default('https://api.github.com')),
    /** Least time between two GitHub writes across all replicas; GitHub asks for a second. */
    OPSBOT_GITHUB_WRITE_GAP_MS: z.coerce.number().int().min(0).max(60_000).default(1_000),
    KUBECONFIG: optionalText,
    /** Optional here so a URL given beside Sentinel or Cluster settings can be refused; defaulted below. */
    REDIS_URL: z.preprocess(unsetIfEmpty, z.url({ protocol: /^rediss?$/ }).optional()),
    /** Redis Sentinel: the sentinels to ask for the current master of REDIS_SENTINEL_NAME. */
    REDIS_SENTINELS: HostPortList,
    REDIS_SENTINEL_NAME: z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .regex(/^[A-Za-z0-9._-]+$/)
        .optional(),
    ),
    /** Redis Cluster: some of its nodes (the rest are discovered). */
    REDIS_CLUSTER_NODES: HostPortList,
    /** The data nodes' ACL user and password under Sentinel or Cluster: what REDIS_URL's user info says otherwise. */
    REDIS_USERNAME: optionalText,
    REDIS_PASSWORD: optionalText,
    /** The sentinels' own password (`requirepass` in sentinel.conf), when they have one. */
    REDIS_SENTINEL_PASSWORD: optionalText,
    /** "true": TLS to the data nodes under Sentinel or Cluster, as a rediss:// REDIS_URL does otherwise. */
    REDIS_TLS: z.preprocess(
      unsetIfEmpty,
      z
        .enum(['true', 'false'])
        .default('false')
        .transform((v) => v === 'true'),
    ),
    OPSBOT_CONFIG: z.string().default('./opsbot.yml'),
    OPSBOT_QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9:_-]+$/)
      .default('opsbot'),
    OPSBOT_WEBHOOK_TOKEN: optionalText,
    /** Only "true" lets /webhooks/* accept requests without OPSBOT_WEBHOOK_TOKEN (local use). */
    OPSBOT_WEBHOOK_ALLOW_UNAUTHENTICATED: z.preprocess(
      unsetIfEmpty,
      z
        .enum(['true', 'false'])
        .default('false')
        .transform((v) => v === 'true'),
    ),
    /** PagerDuty v3 webhook signing secret(s), comma-separated; when set, /webhooks/pagerduty needs a valid signature. */
    PAGERDUTY_WEBHOOK_SECRET: optionalText,
    /** auto: Redis if REDIS_URL is set or the default answers, else in-process (local mode). */
    OPSBOT_QUEUE: z.enum(['auto', 'redis', 'memory']).default('auto'),
    /** Crash points for the crash-safety tests, e.g. `rollback.after-patch=exit`; never set in production. */
    OPSBOT_FAILPOINTS: optionalText,
    /** How long a worker's hold on a job lasts without renewal: a crashed worker's job is retried after about this long. */
    OPSBOT_JOB_LOCK_MS: z.coerce.number().int().min(1_000).max(300_000).default(10_000),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    /**
     * split: `start` answers Slack on this process's main thread and runs jobs on a worker thread, so
     * the ack never waits behind a job (needs Redis). one: everything on one thread.
     */
    OPSBOT_PROCESSES: z.enum(['split', 'one']).default('split'),
    /** Health and metrics port of the worker thread that `start` runs; default PORT+1 (0 when PORT is 0). */
    OPSBOT_WORKER_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    /**
     * How much lower the worker thread's CPU priority is than the main thread's (nice, 0–19): on a
     * busy machine the ack to Slack goes first, and jobs take the time left over. 0 keeps them equal.
     */
    OPSBOT_WORKER_NICE: z.coerce.number().int().min(0).max(19).default(10),
    HOST: z.string().default('0.0.0.0'),
    LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** Hard maximum age of cached user-group memberships; past it without a refresh, group roles are dropped. */
    OPSBOT_GROUPS_MAX_AGE: z.preprocess(unsetIfEmpty, Duration.default(5 * 60_000)),
  })
  .superRefine((env, ctx) => {
    if (env.SLACK_BOT_TOKEN && !env.SLACK_APP_TOKEN && !env.SLACK_SIGNING_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_SIGNING_SECRET'],
        message: 'is required in HTTP mode (set SLACK_APP_TOKEN instead for Socket Mode)',
      });
    }
    if (env.SLACK_APP_TOKEN && !env.SLACK_APP_TOKEN.startsWith('xapp-')) {
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_APP_TOKEN'],
        message: 'must be an app-level token starting with "xapp-"',
      });
    }
    checkRedisTopology(env, ctx);
    const app = [env.GITHUB_APP_ID, env.GITHUB_APP_PRIVATE_KEY, env.GITHUB_APP_INSTALLATION_ID];
    if (app.some(Boolean) && !app.every(Boolean)) {
      ctx.addIssue({
        code: 'custom',
        path: ['GITHUB_APP_ID'],
        message:
          'a GitHub App needs all of GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID',
      });
    }
  })
  .transform((env) => ({ ...env, REDIS_URL: env.REDIS_URL ?? DEFAULT_REDIS_URL }));
export type Env = z.infer<typeof Env>;

/** One way to reach Redis: a URL, Sentinel or Cluster. Two at once would leave the choice to chance. */
function checkRedisTopology(
  env: {
    REDIS_URL?: string | undefined;
    REDIS_SENTINELS?: HostPort[] | undefined;
    REDIS_SENTINEL_NAME?: string | undefined;
    REDIS_CLUSTER_NODES?: HostPort[] | undefined;
    REDIS_USERNAME?: string | undefined;
    REDIS_PASSWORD?: string | undefined;
    REDIS_SENTINEL_PASSWORD?: string | undefined;
    REDIS_TLS?: boolean | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  const issue = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: [key], message });
  const sentinel = env.REDIS_SENTINELS !== undefined;
  const cluster = env.REDIS_CLUSTER_NODES !== undefined;
  if (sentinel && cluster)
    issue('REDIS_CLUSTER_NODES', 'cannot be set together with REDIS_SENTINELS: choose Sentinel or Cluster');
  if ((sentinel || cluster) && env.REDIS_URL !== undefined)
    issue(
      'REDIS_URL',
      `cannot be set together with ${sentinel ? 'REDIS_SENTINELS' : 'REDIS_CLUSTER_NODES'}: unset it (put a password in REDIS_PASSWORD)`,
    );
  if (sentinel && env.REDIS_SENTINEL_NAME === undefined)
    issue('REDIS_SENTINEL_NAME', 'is required with REDIS_SENTINELS: the master name the sentinels monitor');
  if (!sentinel && env.REDIS_SENTINEL_NAME !== undefined)
    issue('REDIS_SENTINEL_NAME', 'is set but REDIS_SENTINELS is not');
  if (!sentinel && env.REDIS_SENTINEL_PASSWORD !== undefined)
    issue('REDIS_SENTINEL_PASSWORD', 'is set but REDIS_SENTINELS is not');
  if (!sentinel && !cluster) {
    for (const key of ['REDIS_USERNAME', 'REDIS_PASSWORD'] as const)
      if (env[key] !== undefined)
        issue(key, 'applies to REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL put it in the URL');
    if (env.REDIS_TLS)
      issue('REDIS_TLS', 'applies to REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL use rediss://');
  }
}

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const result = Env.safeParse(source);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `environment variable ${i.path.join('.')}: ${i.message}`);
  throw new ConfigError(lines.join('\n'));
}

/** Whether opsbot has GitHub credentials: a token, or all three settings of a GitHub App. */
export function hasGitHubCredentials(env: Env): boolean {
  return Boolean(
    env.GITHUB_TOKEN || (env.GITHUB_APP_ID && env.GITHUB_APP_PRIVATE_KEY && env.GITHUB_APP_INSTALLATION_ID),
  );
}

/** Every setting that is a credential; none of their values may reach a log line. */
export const SECRET_SETTINGS = [
  'SLACK_BOT_TOKEN',
  'SLACK_SIGNING_SECRET',
  'SLACK_APP_TOKEN',
  'GITHUB_TOKEN',
  'GITHUB_APP_PRIVATE_KEY',
  'OPSBOT_WEBHOOK_TOKEN',
  'PAGERDUTY_WEBHOOK_SECRET',
  'REDIS_PASSWORD',
  'REDIS_SENTINEL_PASSWORD',
] as const satisfies readonly (keyof Env)[];

const URL_SETTINGS = [
  'REDIS_URL',
  'SLACK_API_URL',
  'GITHUB_API_URL',
] as const satisfies readonly (keyof Env)[];
const REDACTED = '[redacted]';

/** A URL with its user-info password replaced, e.g. redis://:[redacted]@redis:6379. */
export function redactUrl(text: string): string {
  if (!URL.canParse(text)) return REDACTED;
  const url = new URL(text);
  if (url.password) url.password = REDACTED;
  return url.toString().replace(encodeURIComponent(REDACTED), REDACTED);
}

/** The settings as an operator may see them in a log: secrets and URL credentials replaced. */
export function redactEnv(env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = { ...env };
  for (const key of SECRET_SETTINGS) if (out[key] !== undefined) out[key] = REDACTED;
  for (const key of URL_SETTINGS) out[key] = redactUrl(env[key]);
  return out;
}
