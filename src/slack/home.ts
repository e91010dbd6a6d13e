import type { HomeView, KnownBlock, WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { age } from '../../commands/shared.js';
import type { OpsbotConfig } from '../config/schema.js';
import type { AuditRecord } from '../core/audit.js';
import type { Message } from '../core/message.js';
import { grantsOf, rolesOf } from '../core/policy.js';
import { slackText } from '../core/text.js';
import type { Clock, Directory, RecentActions } from '../ports.js';
import { clipText, toBlocks } from './render.js';

/** How many of the latest actions the Home tab lists. */
export const HOME_ACTIONS = 10;
/** https://docs.slack.dev/reference/surfaces/views: a Home tab holds at most 100 blocks. */
const HOME_BLOCKS_MAX = 100;
/** https://docs.slack.dev/reference/block-kit/blocks/section-block: section text up to 3000 characters. */
const SECTION_TEXT_MAX = 3000;

export interface HomeDeps {
  config: OpsbotConfig;
  directory: Directory;
  recent: RecentActions;
  clock: Clock;
  client: WebClient;
  log: Logger;
  /** What the features add for this user (open incidents, their preview environments), one message each. */
  sections(user: { id: string; groups: ReadonlySet<string> }): Promise<Message[]>;
}

const OUTCOME_ICON: Record<string, string> = {
  executed: ':white_check_mark:',
  noop: ':white_circle:',
  failed: ':x:',
  unknown: ':grey_question:',
  denied: ':no_entry:',
  refused: ':no_entry_sign:',
  approved: ':+1:',
  expired: ':hourglass:',
  requested: ':hand:',
};

function section(text: string): KnownBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: clipText(text, SECTION_TEXT_MAX) } };
}

/** One line per action: its record id (what `undo` and the audit repository know it by), what, where, who, when. */
function actionLine(record: AuditRecord, now: number): string {
  const who = record.requester.name ? `@${record.requester.name}` : `<@${record.requester.id}>`;
  const what = [record.action, record.target].filter(Boolean).join(' ');
  const icon = OUTCOME_ICON[record.outcome] ?? '';
  return `${icon} \`${record.id}\` ${slackText(what)} in *${slackText(record.environment ?? '?')}* · ${record.outcome} · ${slackText(who)} · ${age(record.time, now)} ago`;
}

/** The App Home tab: the user's roles and rights, the features' sections, and the last actions they may see. */
export async function homeView(deps: Omit<HomeDeps, 'client' | 'log'>, userId: string): Promise<HomeView> {
  const groups = await deps.directory.groupsOf(userId);
  const person = { userId, groups };
  const roles = rolesOf(deps.config, person);
  const grants = grantsOf(deps.config, person);
  const visible = new Set([...grants.values()].flat());
  const [extra, recent] = await Promise.all([
    deps.sections({ id: userId, groups }),
    deps.recent.latest(HOME_ACTIONS, (r) => r.environment !== undefined && visible.has(r.environment)),
  ]);
  const now = deps.clock.now();
  const rights = [...grants.entries()].map(([action, envs]) => `• *${action}* in ${envs.join(', ')}`);
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: 'opsbot' } },
    section(
      roles.length > 0
        ? `*Your roles:* ${roles.map((r) => `\`${r}\``).join(', ')}`
        : '*Your roles:* none. You may run `/ops help` and `/ops whoami`.',
    ),
    ...(rights.length > 0 ? [section(['*What you may run:*', ...rights].join('\n'))] : []),
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: 'Type `/ops` for a form that asks for each field.' }],
    },
  ];
  for (const msg of extra) blocks.push({ type: 'divider' }, ...toBlocks(msg));
  blocks.push({ type: 'divider' }, { type: 'header', text: { type: 'plain_text', text: 'Last actions' } });
  if (recent.length === 0) blocks.push(section('No actions yet in the environments you may see.'));
  for (const record of recent) blocks.push(section(actionLine(record, now)));
  // Never past Slack's limit: the latest actions come last, so features' long lists give way first.
  const overflow = blocks.length - HOME_BLOCKS_MAX;
  return {
    type: 'home',
    blocks: overflow > 0 ? [...blocks.slice(0, 4), ...blocks.slice(4 + overflow)] : blocks,
  };
}

export function createHomeTab(deps: HomeDeps) {
  const publish = async (userId: string) => {
    await deps.client.views.publish({ user_id: userId, view: await homeView(deps, userId) });
  };
  return {
    /** app_home_opened: published now, and from then on after each of the user's actions. */
    async opened(userId: string): Promise<void> {
      await deps.recent.addHomeViewer(userId);
      await publish(userId);
    },
    /** After an audit record: the Home of the requester and the approver, if they have opened it. */
    async refreshAfter(record: AuditRecord): Promise<void> {
      const people = [record.requester.id, record.approver?.id].filter((id): id is string => Boolean(id));
      for (const id of new Set(people)) {
        if (!(await deps.recent.isHomeViewer(id))) continue;
        await publish(id).catch((err: unknown) =>
          deps.log.warn({ err, user: id }, 'could not refresh the Home tab'),
        );
      }
    },
  };
}

export type HomeTab = ReturnType<typeof createHomeTab>;
