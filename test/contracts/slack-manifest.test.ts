import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppsManifestCreateArguments } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { z } from 'zod';

/** The SDK's own type for what "Create from a manifest" and apps.manifest.create accept. */
type Manifest = AppsManifestCreateArguments['manifest'];
type BotScope = NonNullable<NonNullable<NonNullable<Manifest['oauth_config']>['scopes']>['bot']>[number];

/** Every granular bot scope the SDK's Manifest type knows; the check below keeps the two lists equal. */
const BOT_SCOPES = [
  'app_mentions:read',
  'bookmarks:read',
  'bookmarks:write',
  'calls:read',
  'calls:write',
  'channels:history',
  'channels:join',
  'channels:manage',
  'channels:read',
  'channels:write.invites',
  'channels:write.topic',
  'chat:write',
  'chat:write.customize',
  'chat:write.public',
  'commands',
  'conversations.connect:manage',
  'conversations.connect:read',
  'conversations.connect:write',
  'datastore:read',
  'datastore:write',
  'dnd:read',
  'emoji:read',
  'files:read',
  'files:write',
  'groups:history',
  'groups:read',
  'groups:write',
  'groups:write.invites',
  'groups:write.topic',
  'im:history',
  'im:read',
  'im:write',
  'incoming-webhook',
  'links.embed:write',
  'links:read',
  'links:write',
  'metadata.message:read',
  'mpim:history',
  'mpim:read',
  'mpim:write',
  'mpim:write.invites',
  'mpim:write.topic',
  'none',
  'pins:read',
  'pins:write',
  'reactions:read',
  'reactions:write',
  'reminders:read',
  'reminders:write',
  'remote_files:read',
  'remote_files:share',
  'remote_files:write',
  'team.billing:read',
  'team.preferences:read',
  'team:read',
  'tokens.basic',
  'triggers:read',
  'triggers:write',
  'usergroups:read',
  'usergroups:write',
  'users.profile:read',
  'users:read',
  'users:read.email',
  'users:write',
  'workflow.steps:execute',
] as const satisfies readonly BotScope[];
// A scope the SDK type adds and this list lacks fails the typecheck here.
const allScopesListed: [Exclude<BotScope, (typeof BOT_SCOPES)[number]>] extends [never] ? true : false = true;

const HttpsUrl = z.url({ protocol: /^https$/ });

/**
 * The part of Slack's manifest format opsbot uses, with the documented limits (the SDK type's
 * comments, from https://docs.slack.dev/reference/app-manifest). Strict objects: a misspelt key fails.
 */
const SlackManifest = z.strictObject({
  _metadata: z
    .strictObject({ major_version: z.int().exactOptional(), minor_version: z.int().exactOptional() })
    .exactOptional(),
  display_information: z.strictObject({
    name: z.string().min(1).max(35),
    description: z.string().max(140).exactOptional(),
    long_description: z.string().max(4000).exactOptional(),
    background_color: z
      .string()
      .regex(/^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/)
      .exactOptional(),
  }),
  features: z
    .strictObject({
      app_home: z
        .strictObject({
          home_tab_enabled: z.boolean().exactOptional(),
          messages_tab_enabled: z.boolean().exactOptional(),
          messages_tab_read_only_enabled: z.boolean().exactOptional(),
        })
        .exactOptional(),
      bot_user: z
        .strictObject({
          display_name: z
            .string()
            .max(80)
            .regex(/^[a-z0-9._-]+$/),
          always_online: z.boolean().exactOptional(),
        })
        .exactOptional(),
      slash_commands: z
        .array(
          z.strictObject({
            command: z
              .string()
              .max(32)
              .regex(/^\/[a-z0-9_-]+$/),
            description: z.string().min(1).max(2000),
            should_escape: z.boolean().exactOptional(),
            url: HttpsUrl.exactOptional(),
            usage_hint: z.string().max(1000).exactOptional(),
          }),
        )
        .max(50)
        .exactOptional(),
    })
    .exactOptional(),
  oauth_config: z
    .strictObject({
      scopes: z.strictObject({ bot: z.array(z.enum(BOT_SCOPES)).max(255).exactOptional() }).exactOptional(),
    })
    .exactOptional(),
  settings: z
    .strictObject({
      event_subscriptions: z
        .strictObject({
          request_url: HttpsUrl.exactOptional(),
          // The SDK's ManifestEvent names; "A maximum of 100 event types can be used."
          bot_events: z
            .array(z.enum(['app_home_opened']))
            .max(100)
            .exactOptional(),
        })
        .exactOptional(),
      interactivity: z
        .strictObject({
          is_enabled: z.boolean(),
          request_url: HttpsUrl.exactOptional(),
          message_menu_options_url: HttpsUrl.exactOptional(),
        })
        .exactOptional(),
      org_deploy_enabled: z.boolean().exactOptional(),
      socket_mode_enabled: z.boolean().exactOptional(),
      token_rotation_enabled: z.boolean().exactOptional(),
    })
    .exactOptional(),
});
/** Keys of A, at any depth, that B does not have (as paths); never when A only uses B's keys. */
type ExtraKeys<A, B, P extends string = ''> = A extends readonly (infer AE)[]
  ? B extends readonly (infer BE)[]
    ? ExtraKeys<AE, BE, `${P}[]`>
    : never
  : A extends object
    ? {
        [K in keyof A & string]: K extends keyof B
          ? ExtraKeys<NonNullable<A[K]>, NonNullable<B[K]>, `${P}.${K}`>
          : `${P}.${K}`;
      }[keyof A & string]
    : never;
type Admitted = z.infer<typeof SlackManifest>;
// Whatever the schema admits is a Manifest as the SDK types it: a type it lacks fails the
// assignment, a key it lacks fails the second check (the typecheck names the key).
const admitted = (m: Admitted): Manifest => m;
const noKeysBeyondSdk: [ExtraKeys<Admitted, Manifest>] extends [never]
  ? true
  : ExtraKeys<Admitted, Manifest> = true;

/**
 * Bot scopes each Web API method accepts (any one suffices) for what opsbot does with it, from the
 * method's page at https://docs.slack.dev/reference/methods/<method> ("Required scopes").
 */
const METHOD_SCOPES: Record<string, readonly BotScope[]> = {
  'auth.test': [],
  'chat.postMessage': ['chat:write'],
  'chat.update': ['chat:write'],
  'chat.postEphemeral': ['chat:write'],
  'users.info': ['users:read'],
  'usergroups.list': ['usergroups:read'],
  'usergroups.users.list': ['usergroups:read'],
  // Incident channels are public (no is_private): creating one needs channels:manage.
  'conversations.create': ['channels:manage'],
  'conversations.invite': ['channels:manage', 'channels:write.invites'],
  'conversations.setTopic': ['channels:manage', 'channels:write.topic'],
  'conversations.archive': ['channels:manage'],
  'conversations.unarchive': ['channels:manage'],
  // The views methods need no scope: a trigger_id (open) or the app's own view (update, publish) suffices.
  'views.open': [],
  'views.update': [],
  'views.publish': [],
};

/** Every Web API method called in a source file that talks to Slack through the SDK. */
function methodsCalled(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = join(entry.parentPath, entry.name);
    const text = readFileSync(file, 'utf8');
    if (!/from '@slack\/(web-api|bolt)'/.test(text)) continue;
    const calls =
      /\.((?:auth|chat|conversations|users|usergroups|apps|reactions|pins|views|files)(?:\.[a-zA-Z]+)+)\(/g;
    for (const [, method] of text.matchAll(calls)) if (method) found.set(method, file);
  }
  return found;
}

const text = readFileSync('manifest.yml', 'utf8');

describe('manifest.yml', () => {
  it('is valid YAML, without duplicate keys or warnings', () => {
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    expect(doc.errors.map(String)).toEqual([]);
    expect(doc.warnings.map(String)).toEqual([]);
  });

  const manifest = () => SlackManifest.parse(parseDocument(text).toJS());

  it("matches Slack's manifest format and its documented limits", () => {
    expect(allScopesListed).toBe(true);
    expect(noKeysBeyondSdk).toBe(true);
    const parsed = SlackManifest.safeParse(parseDocument(text).toJS());
    expect(parsed.success ? '' : z.prettifyError(parsed.error)).toBe('');
    expect(admitted(manifest()).display_information.name).toBe('opsbot');
  });

  it('requests every scope the code needs', () => {
    const scopes = new Set<string>(manifest().oauth_config?.scopes?.bot ?? []);
    const called = methodsCalled('src');
    expect([...called.keys()]).toEqual(expect.arrayContaining(['chat.postMessage', 'conversations.create']));
    const unknown = [...called].filter(([method]) => !(method in METHOD_SCOPES));
    expect(unknown, 'methods whose scopes this test does not know yet').toEqual([]);
    const missing = [...called.keys()].filter((method) => {
      const accepted = METHOD_SCOPES[method] ?? [];
      return accepted.length > 0 && !accepted.some((s) => scopes.has(s));
    });
    expect(missing, 'methods called without a scope that allows them').toEqual([]);
    // Slash commands need `commands` (https://docs.slack.dev/reference/scopes/commands).
    expect(scopes.has('commands')).toBe(true);
    // users.info shows profile.email only with users:read.email (https://docs.slack.dev/reference/methods/users.info).
    expect(readFileSync('src/slack/chat.ts', 'utf8')).toContain('profile?.email');
    expect(scopes.has('users:read.email')).toBe(true);
  });

  it('declares every slash command the app registers, and points every request URL at /slack/events', () => {
    const m = manifest();
    const app = readFileSync('src/slack/app.ts', 'utf8');
    const registered = [...app.matchAll(/app\.command\('([^']+)'/g)].map(([, c]) => c);
    expect(registered.length).toBeGreaterThan(0);
    const declared = (m.features?.slash_commands ?? []).map((c) => c.command);
    expect(declared).toEqual(expect.arrayContaining(registered));
    // Bolt's buttons need interactivity switched on.
    expect(m.settings?.interactivity?.is_enabled).toBe(true);
    const urls = [
      ...(m.features?.slash_commands ?? []).map((c) => c.url),
      m.settings?.interactivity?.request_url,
      m.settings?.event_subscriptions?.request_url,
    ].filter((u): u is string => u !== undefined);
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(new URL(url).pathname, url).toBe('/slack/events');
  });

  it('enables the Home tab and the events and option lists the Slack app listens to', () => {
    const m = manifest();
    const app = readFileSync('src/slack/app.ts', 'utf8');
    const events = [...app.matchAll(/app\.event\('([^']+)'/g)].map(([, e]) => e);
    expect(events).toContain('app_home_opened');
    expect(m.settings?.event_subscriptions?.bot_events ?? []).toEqual(expect.arrayContaining(events));
    expect(m.features?.app_home?.home_tab_enabled).toBe(true);
    // External selects load their options from this URL (block_suggestion).
    if (/app\.options/.test(app)) expect(m.settings?.interactivity?.message_menu_options_url).toBeDefined();
  });
});
