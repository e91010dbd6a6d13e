import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedSampleApp } from '../../src/sandbox/sample-app.js';
import { type GitHubFake, type StartGitHubFakeOptions, startGitHubFake } from '../fakes/github.js';
import { type KubeApi, startKubeFake } from '../fakes/kubernetes.js';
import { type SlackFake, startSlackFake } from '../fakes/slack.js';
import {
  blockActionPayload,
  interactionBody,
  newTriggerId,
  postSigned,
  slashCommandBody,
} from '../fakes/slack-signing.js';

export const SIGNING_SECRET = 'test-signing-secret-5f1c';
export const BOT_TOKEN = 'xoxb-test-bot-token-9a2e';
export const APP_TOKEN = 'xapp-1-A0OPSBOT-1234-test-app-token';
export const GITHUB_TOKEN = 'ghp_testtoken0123456789';
export const AUDIT_REPO = 'acme/ops-audit';

export const USERS = {
  oncall: { id: 'UONCALL1', name: 'alice' },
  oncall2: { id: 'UONCALL2', name: 'bob' },
  developer: { id: 'UDEV1', name: 'dana' },
  stranger: { id: 'USTRANGER', name: 'sam' },
} as const;

export const DEFAULT_CONFIG = `
environments:
  staging: { context: staging, namespace: apps }
  prod: { context: prod, namespace: apps, protected: true, scale: { min: 2, max: 50 } }
roles:
  oncall:
    members: [${USERS.oncall.id}, "@sre-oncall"]
    can:
      - { actions: [rollback, restart, scale, status, history], environments: [staging, prod] }
    approve: [prod]
  developer:
    members: ["@engineering"]
    can:
      - { actions: [status, history, restart], environments: [staging] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
`;

export interface World {
  slack: SlackFake;
  github: GitHubFake;
  kube: KubeApi;
  dir: string;
  /** Environment for the bot process: every URL points at the fakes. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startWorld(
  options: {
    config?: string;
    rolloutStepMs?: number;
    github?: Pick<StartGitHubFakeOptions, 'app' | 'pathPrefix'>;
    /** Socket Mode instead of HTTP: the bot gets SLACK_APP_TOKEN and no signing secret. */
    socketMode?: boolean;
    /** The Kubernetes fake enforces RBAC, and its token authenticates as this user. */
    kubeRbac?: { user: string; groups?: string[] };
    /** Serve the Kubernetes fake over HTTPS, as kubectl needs to send its token (see selfSignedCert). */
    kubeTls?: { key: string; cert: string };
  } = {},
): Promise<World> {
  const slack = await startSlackFake({
    botToken: BOT_TOKEN,
    ...(options.socketMode ? { appToken: APP_TOKEN } : {}),
  });
  slack.addUsergroup({ id: 'S0SRE', handle: 'sre-oncall', name: 'SRE on call', users: [USERS.oncall2.id] });
  slack.addUsergroup({
    id: 'S0ENG',
    handle: 'engineering',
    name: 'Engineering',
    users: [USERS.developer.id],
  });
  for (const user of Object.values(USERS)) slack.addUser({ id: user.id, name: user.name });
  slack.addChannel({ id: 'COPS', name: 'ops' });

  const github = await startGitHubFake({ token: GITHUB_TOKEN, ...options.github });
  github.createRepo(AUDIT_REPO, { files: { 'README.md': '# audit\n' } });

  const kube = await startKubeFake({
    rolloutStepMs: options.rolloutStepMs ?? 0,
    ...(options.kubeRbac ? { rbac: options.kubeRbac } : {}),
    ...(options.kubeTls ? { tls: options.kubeTls } : {}),
  });
  seedSampleApp(kube, 'apps');

  const dir = mkdtempSync(join(tmpdir(), 'opsbot-world-'));
  const kubeconfig = join(dir, 'kubeconfig');
  kube.writeKubeconfig(kubeconfig, [{ name: 'staging' }, { name: 'prod' }], 'staging');
  const configFile = join(dir, 'opsbot.yml');
  writeFileSync(configFile, options.config ?? DEFAULT_CONFIG);

  return {
    slack,
    github,
    kube,
    dir,
    env: {
      SLACK_BOT_TOKEN: BOT_TOKEN,
      ...(options.socketMode ? { SLACK_APP_TOKEN: APP_TOKEN } : { SLACK_SIGNING_SECRET: SIGNING_SECRET }),
      SLACK_API_URL: slack.url,
      GITHUB_TOKEN,
      GITHUB_API_URL: github.url,
      KUBECONFIG: kubeconfig,
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      OPSBOT_CONFIG: configFile,
      OPSBOT_QUEUE_PREFIX: `test-${randomUUID()}`,
      // GitHub's one-second pace between writes would only slow the tests; the pacing test sets its own.
      OPSBOT_GITHUB_WRITE_GAP_MS: '0',
      // Many units share this machine's two cores with the test runner: a worker ranked below all of
      // them would only be starved. process-split.test.ts checks the default priority.
      OPSBOT_WORKER_NICE: '0',
    },
    async close() {
      await Promise.all([slack.close(), github.close(), kube.close()]);
    },
  };
}

export interface SlashOptions {
  user?: { id: string; name: string };
  channel?: { id: string; name: string };
  triggerId?: string;
  timestamp?: number;
  headers?: Record<string, string>;
  secret?: string;
}

/** Posts `/ops <text>` to the bot exactly as Slack does: form-encoded and signed. */
export async function slash(botUrl: string, world: World, text: string, options: SlashOptions = {}) {
  const user = options.user ?? USERS.oncall;
  const channel = options.channel ?? { id: 'COPS', name: 'ops' };
  const body = slashCommandBody({
    text,
    user_id: user.id,
    user_name: user.name,
    channel_id: channel.id,
    channel_name: channel.name,
    trigger_id: options.triggerId ?? newTriggerId(),
    response_url: world.slack.responseUrl(),
  });
  const res = await postSigned(`${botUrl}/slack/events`, body, options.secret ?? SIGNING_SECRET, {
    ...(options.timestamp === undefined ? {} : { timestamp: options.timestamp }),
    ...(options.headers ? { headers: options.headers } : {}),
  });
  const raw = await res.text();
  let json: { text?: string; response_type?: string } = {};
  try {
    json = JSON.parse(raw);
  } catch {
    // 401 and other refusals carry no JSON body.
  }
  return { status: res.status, body: json, raw };
}

/** The audit records committed to the fake audit repository, parsed. */
/** The image of a deployment's first container in the fake's "apps" namespace, as stored now. */
export function imageOf(world: World, name: string): string | undefined {
  const d = world.kube.getDeployment('apps', name) as unknown as
    | { spec: { template: { spec: { containers: { image: string }[] } } } }
    | undefined;
  return d?.spec.template.spec.containers[0]?.image;
}

export function auditRecords(world: World): Record<string, unknown>[] {
  return Object.entries(world.github.files(AUDIT_REPO))
    .filter(([path]) => path.startsWith('audit/'))
    .map(([, content]) => JSON.parse(content) as Record<string, unknown>);
}

export interface ClickOptions {
  user?: { id: string; name: string };
  channel?: string;
  value: string;
  actionId: 'approval.approve' | 'approval.deny' | 'preview.extend';
  secret?: string;
  triggerId?: string;
}

/** Clicks a button as Slack does: a signed block_actions payload to the interactivity URL. */
export async function click(botUrl: string, world: World, options: ClickOptions): Promise<number> {
  const user = options.user ?? USERS.oncall2;
  const payload = blockActionPayload({
    user: user.id,
    userName: user.name,
    channel: options.channel ?? 'COPS',
    actionId: options.actionId,
    value: options.value,
    responseUrl: world.slack.responseUrl(),
    ...(options.triggerId ? { triggerId: options.triggerId } : {}),
  });
  const res = await postSigned(
    `${botUrl}/slack/events`,
    interactionBody(payload),
    options.secret ?? SIGNING_SECRET,
  );
  await res.text();
  return res.status;
}

/** The approval id carried by the buttons of the newest approval message in a channel. */
/**
 * An incident channel once people can act in it. The bot posts its summary there only after saving
 * the channel with its incident and inviting the responders; before that nobody is in it to type.
 */
export function readyIncidentChannel(
  world: World,
  named: (name: string) => boolean = (n) => n.startsWith('inc-'),
) {
  return world.slack.waitFor(
    () => world.slack.channels().find((c) => named(c.name) && world.slack.messages(c.id).length > 0),
    15_000,
  );
}

export function approvalIdIn(world: World, channel = 'COPS'): string | undefined {
  const msg = [...world.slack.messages(channel)].reverse().find((m) => m.text?.startsWith('Approval needed'));
  const text = JSON.stringify(msg?.blocks ?? []);
  return /"value":"([0-9a-f]{32})"/.exec(text)?.[1];
}
