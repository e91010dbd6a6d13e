import { z } from 'zod';
import { type Alert, type AlertGroup, alertTime } from './alert.js';
import { formatDuration } from './duration.js';
import { type Button, type Message, message } from './message.js';
import { escapeGitHub, escapeMrkdwn, gitHubText, gitHubTitle, slackLink, slackText } from './text.js';

export const StoredAlert = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()).default({}),
  at: z.number(),
  startsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  silenceURL: z.string().optional(),
  dashboardURL: z.string().optional(),
});
export type StoredAlert = z.infer<typeof StoredAlert>;

export const IncidentAction = z.object({
  time: z.number(),
  who: z.string(),
  what: z.string(),
  outcome: z.string(),
  recordId: z.string(),
  /** Who approved it, when someone had to. */
  approver: z.string().optional(),
  /** The audit record's path in the audit repository: what the postmortem links. */
  auditPath: z.string().optional(),
});
export type IncidentAction = z.infer<typeof IncidentAction>;

/** What an action did to the incident's alerts, judged after it ran (see core/verdict.ts). */
export const IncidentVerdict = z.object({
  time: z.number(),
  /** The audit record id of the action it judges (IncidentAction.recordId). */
  follows: z.string(),
  verdict: z.string(),
  /** The sentence said in the channel, e.g. "Verdict on rollback api in prod: resolved, …". */
  line: z.string(),
});
export type IncidentVerdict = z.infer<typeof IncidentVerdict>;

/** One incident as kept in Redis: what the channel, the issue and the summary are built from. */
export const Incident = z.object({
  id: z.string(),
  key: z.string(),
  /** The alert source's id, or `manual` for one declared by hand. */
  source: z.string().min(1),
  title: z.string(),
  severity: z.string(),
  status: z.enum(['open', 'resolved']),
  openedAt: z.number(),
  resolvedAt: z.number().optional(),
  resolvedBy: z.string().optional(),
  note: z.string().optional(),
  flaps: z.int().default(0),
  labels: z.record(z.string(), z.string()).default({}),
  annotations: z.record(z.string(), z.string()).default({}),
  externalURL: z.string().optional(),
  environment: z.string().optional(),
  deployment: z.string().optional(),
  alerts: z.record(z.string(), StoredAlert).default({}),
  /** Every source whose alerts are part of this incident: the one that opened it, then those that joined. */
  sources: z.array(z.object({ id: z.string(), key: z.string(), link: z.string().optional() })).default([]),
  /** The most alerts a source said it left out of one notification. */
  truncatedAlerts: z.int().default(0),
  /** Alerts dropped from `alerts` to keep the record small (see capAlerts); still counted everywhere. */
  droppedAlerts: z.int().default(0),
  notifications: z.int().default(0),
  channelId: z.string().optional(),
  channelName: z.string().optional(),
  summaryTs: z.string().optional(),
  /** Slack refused the summary even as plain text; it is not posted again for this incident. */
  summaryRefused: z.boolean().default(false),
  issue: z.int().optional(),
  invited: z.boolean().default(false),
  archived: z.boolean().default(false),
  /** The next channel-name suffix to try: names found taken are not tried again. */
  nameSuffix: z.int().default(0),
  /** An issues.create was sent; a retry looks for it before sending another. */
  issueAttempted: z.boolean().default(false),
  previous: z
    .object({ id: z.string(), issue: z.int().optional(), channelId: z.string().optional() })
    .optional(),
  actions: z.array(IncidentAction).default([]),
  /** Kept beside the actions, not among them: a verdict is opsbot's judgement, not someone's action. */
  verdicts: z.array(IncidentVerdict).default([]),
  /** The per-channel outbox: lines waiting for the next coalesced post. */
  outbox: z.array(z.string()).default([]),
  summaryDirty: z.boolean().default(false),
  issueDirty: z.boolean().default(false),
  /** The issue and the channel have been told about the latest resolution. */
  resolutionDone: z.boolean().default(true),
  /** Record ids of actions noted after the resolution went out; each still owes the issue a comment. */
  lateActions: z.array(z.string()).default([]),
  lastSentAt: z.number().default(0),
  syncPending: z.boolean().default(false),
  syncSeq: z.int().default(0),
  /** Runbook-action buttons offered in the summary, by opaque id. */
  buttons: z.array(z.object({ id: z.string(), label: z.string(), text: z.string() })).default([]),
});
export type Incident = z.infer<typeof Incident>;

export interface AlertChanges {
  newlyFiring: string[];
  newlyResolved: string[];
  /** Entries older than what is already known (out-of-order redelivery), left out. */
  stale: number;
}

/** Merges a notification's alerts into the incident's, by fingerprint; newer entries win. */
export function mergeAlerts(known: Record<string, StoredAlert>, alerts: readonly Alert[]): AlertChanges {
  const changes: AlertChanges = { newlyFiring: [], newlyResolved: [], stale: 0 };
  for (const alert of alerts) {
    const at = alertTime(alert);
    const before = known[alert.fingerprint];
    if (before && at < before.at) {
      changes.stale++;
      continue;
    }
    if (before && at === before.at && before.status === 'resolved' && alert.status === 'firing') {
      changes.stale++;
      continue;
    }
    known[alert.fingerprint] = {
      status: alert.status,
      labels: alert.labels,
      annotations: alert.annotations,
      at,
      ...(alert.startsAt ? { startsAt: alert.startsAt } : {}),
      ...(alert.generatorURL ? { generatorURL: alert.generatorURL } : {}),
      ...(alert.silenceURL ? { silenceURL: alert.silenceURL } : {}),
      ...(alert.dashboardURL ? { dashboardURL: alert.dashboardURL } : {}),
    };
    if (alert.status === 'firing' && before?.status !== 'firing') changes.newlyFiring.push(alert.fingerprint);
    if (alert.status === 'resolved' && before?.status === 'firing')
      changes.newlyResolved.push(alert.fingerprint);
  }
  return changes;
}

/**
 * Keeps at most `max` alerts in the record, which is rewritten on every save: the most recent ones,
 * firing before resolved. Those dropped are counted, so totals stay true. Answers how many were dropped.
 */
export function capAlerts(incident: Pick<Incident, 'alerts' | 'droppedAlerts'>, max: number): number {
  const entries = Object.entries(incident.alerts);
  const excess = entries.length - max;
  if (excess <= 0) return 0;
  entries.sort(([, a], [, b]) => (a.status === b.status ? a.at - b.at : a.status === 'resolved' ? -1 : 1));
  for (const [fingerprint] of entries.slice(0, excess)) delete incident.alerts[fingerprint];
  incident.droppedAlerts += excess;
  return excess;
}

/** Every alert the incident has seen: those kept, those dropped from the record, and those the source left out. */
export function totalAlerts(
  incident: Pick<Incident, 'alerts' | 'droppedAlerts' | 'truncatedAlerts'>,
): number {
  return Object.keys(incident.alerts).length + incident.droppedAlerts + incident.truncatedAlerts;
}

function alertCounts(incident: Incident, firing: number): string {
  const kept = Object.keys(incident.alerts).length;
  return [
    `${firing} firing · ${kept - firing} resolved`,
    ...(incident.droppedAlerts ? [`${incident.droppedAlerts} older not kept`] : []),
    ...(incident.truncatedAlerts ? [`${incident.truncatedAlerts} not listed by the source`] : []),
  ]
    .join(' · ')
    .concat(incident.droppedAlerts ? ` (${totalAlerts(incident)} in all)` : '');
}

export function firingCount(incident: Pick<Incident, 'alerts'>): number {
  return Object.values(incident.alerts).filter((a) => a.status === 'firing').length;
}

export type GroupDecision = 'open' | 'update' | 'reopen' | 'open-linked' | 'ignore';

/**
 * What a notification does to the group's current incident: a first firing opens one; a re-fire
 * within `reopenWindowMs` of resolution reopens it (a flap); a later one opens a new, linked one.
 * `refireAfterResolve`: the source states current state, so a firing after a resolve is new even
 * when its timestamp is not newer.
 */
export function decideGroup(
  current: Pick<Incident, 'status' | 'resolvedAt' | 'alerts'> | undefined,
  group: Pick<AlertGroup, 'alerts'>,
  now: number,
  reopenWindowMs: number,
  refireAfterResolve = false,
): GroupDecision {
  const firing = group.alerts.filter((a) => a.status === 'firing');
  if (!current) return firing.length > 0 ? 'open' : 'ignore';
  if (current.status === 'open') return 'update';
  // A resolved incident only wakes up for an alert that fired after what it already knows.
  const fresh = firing.filter((a) => {
    const known = current.alerts[a.fingerprint];
    return !known || alertTime(a) > known.at || (refireAfterResolve && known.status === 'resolved');
  });
  if (fresh.length === 0) return 'ignore';
  return now - (current.resolvedAt ?? 0) <= reopenWindowMs ? 'reopen' : 'open-linked';
}

/** Slack channel names: lowercase letters, digits, "-" and "_", at most 80 characters. */
export function channelName(template: string, vars: Record<string, string>, suffix = 0): string {
  const filled = template.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, key: string) => vars[key] ?? '');
  let name = filled
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '');
  if (!name) name = 'incident';
  const tail = suffix > 0 ? `-${suffix + 1}` : '';
  return `${name.slice(0, 80 - tail.length).replace(/[-_]+$/, '')}${tail}`;
}

export function dateStamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replace(/-/g, '');
}

export interface Route {
  match: Record<string, string>;
  invite: string[];
}

/** Everyone to invite: the union of every route whose labels all match. */
export function matchRoutes(routes: readonly Route[], labels: Record<string, string>): string[] {
  const out = new Set<string>();
  for (const route of routes) {
    if (Object.entries(route.match).every(([k, v]) => labels[k] === v)) {
      for (const member of route.invite) out.add(member);
    }
  }
  return [...out];
}

/** Labels every known alert shares: what the incident is about. */
export function commonLabels(alerts: readonly Pick<StoredAlert, 'labels'>[]): Record<string, string> {
  const [first, ...rest] = alerts;
  if (!first) return {};
  return Object.fromEntries(
    Object.entries(first.labels).filter(([k, v]) => rest.every((a) => a.labels[k] === v)),
  );
}

const MAX_TITLE = 200;

/** One line, at most 200 characters: a title never spans lines in Slack, GitHub or a channel topic. */
export function incidentTitle(group: AlertGroup): string {
  const labels = { ...group.alerts[0]?.labels, ...group.commonLabels };
  const summary = group.commonAnnotations.summary ?? group.alerts[0]?.annotations.summary;
  const title = (group.title ?? labels.alertname ?? summary ?? 'Alert').replace(/\s+/g, ' ').trim();
  return (title || 'Alert').slice(0, MAX_TITLE);
}

const LINK_KEYS = ['runbook_url', 'dashboard_url', 'runbook', 'dashboard'] as const;

/**
 * The pinned summary: severity, what fired, labels, annotations, links, and action buttons. Every
 * piece of alert text is escaped for mrkdwn; links are drawn only for http(s) URLs. `silenceURL`
 * is the source's own silence link, used when the alerts carry none.
 */
export function summaryMessage(
  incident: Incident,
  buttons: Button[] = [],
  options: { silenceURL?: string | undefined } = {},
): Message {
  const alerts = Object.values(incident.alerts);
  const firing = alerts.filter((a) => a.status === 'firing');
  const icon = incident.status === 'resolved' ? ':white_check_mark:' : ':rotating_light:';
  const head = `${incident.status === 'resolved' ? 'Resolved' : 'Incident'}: ${slackText(incident.title)} (${slackText(incident.severity)})`;
  const links: string[] = [];
  const first = alerts[0];
  if (first?.generatorURL) links.push(slackLink(first.generatorURL, 'generator'));
  for (const key of LINK_KEYS) {
    const url = incident.annotations[key] ?? first?.annotations[key];
    if (url) links.push(slackLink(url, key.replace('_url', '')));
  }
  if (first?.dashboardURL) links.push(slackLink(first.dashboardURL, 'dashboard'));
  if (first?.silenceURL) links.push(slackLink(first.silenceURL, 'silence'));
  else if (options.silenceURL) links.push(slackLink(options.silenceURL, 'silence'));
  const listed = firing
    .slice(0, 10)
    .map((a) =>
      `• ${slackText(a.labels.alertname ?? 'alert')} ${slackText(describeLabels(a.labels, incident.labels))}`.trimEnd(),
    );
  const more = firing.length > 10 ? [`…and ${firing.length - 10} more firing`] : [];
  // Descriptions may span lines; each line is escaped on its own.
  const prose = (text: string | undefined) => (text ? text.split(/\r?\n/).map((l) => escapeMrkdwn(l)) : []);
  return message(head, {
    lines: [
      `${icon} *${head}*`,
      ...prose(incident.annotations.summary),
      ...prose(incident.annotations.description),
      ...listed,
      ...more,
    ],
    fields: [
      ['Severity', slackText(incident.severity)],
      ['Alerts', alertCounts(incident, firing.length)],
      ['Labels', slackText(describeLabels(incident.labels)) || 'none'],
      ...(links.length ? ([['Links', links.join(' · ')]] as [string, string][]) : []),
      ...(incident.flaps ? ([['Flaps', String(incident.flaps)]] as [string, string][]) : []),
      ...(incident.sources.length > 1
        ? ([
            [
              'Sources',
              incident.sources
                .map((s) => (s.link ? `${s.id} (${slackLink(s.link, s.key)})` : s.id))
                .join(' · '),
            ],
          ] as [string, string][])
        : []),
    ],
    buttons,
    context: [`source ${sourceNames(incident)}`, `incident ${incident.id}`],
  });
}

/** The sources of an incident, the one that opened it first: "alertmanager + pagerduty". */
export function sourceNames(incident: Pick<Incident, 'source' | 'sources'>): string {
  const ids = [incident.source, ...incident.sources.map((s) => s.id)];
  return [...new Set(ids)].join(' + ');
}

/** A label value shown in a summary or an issue row; one huge value must not crowd out the others. */
const LABEL_VALUE_MAX = 300;

function describeLabels(labels: Record<string, string>, omit: Record<string, string> = {}): string {
  return Object.entries(labels)
    .filter(([k]) => !Object.hasOwn(omit, k))
    .map(([k, v]) => `${k}=${shorten(v, LABEL_VALUE_MAX)}`)
    .join(', ');
}

/** One action as the resolution summary lists it: time, what, who, outcome. */
export function actionLine(
  action: IncidentAction,
  target: 'slack' | 'github' = 'slack',
  verdict?: IncidentVerdict,
): string {
  const quote = target === 'slack' ? slackText : gitHubText;
  const name = target === 'slack' ? (text: string) => text : gitHubText;
  return `• ${new Date(action.time).toISOString().slice(11, 19)}Z ${quote(action.what)} by ${name(action.who)}: ${judgedOutcome(action, verdict, quote)}`;
}

/** An action's outcome, with opsbot's verdict on it once there is one: "executed (verdict: resolved)". */
export function judgedOutcome(
  action: Pick<IncidentAction, 'outcome'>,
  verdict: IncidentVerdict | undefined,
  quote: (text: string) => string,
): string {
  return verdict ? `${action.outcome} (verdict: ${quote(verdict.verdict)})` : action.outcome;
}

/** The verdict on an action, by the action's record id. */
export function verdictOn(
  incident: Pick<Incident, 'verdicts'>,
  recordId: string,
): IncidentVerdict | undefined {
  return incident.verdicts.find((v) => v.follows === recordId);
}

/** Posted when an incident resolves: how long, which alerts, and what was done by whom. */
export function resolutionLines(incident: Incident, target: 'slack' | 'github' = 'slack'): string[] {
  const quote = target === 'slack' ? slackText : gitHubText;
  // Names come from Slack (a mention, or "the alerts"); only on GitHub could "@name" notify someone else.
  const name = target === 'slack' ? (text: string) => text : gitHubText;
  const duration = formatDuration((incident.resolvedAt ?? incident.openedAt) - incident.openedAt);
  const alerts = Object.values(incident.alerts);
  const names = [...new Set(alerts.map((a) => a.labels.alertname ?? 'alert'))];
  const actions = incident.actions.map((a) => actionLine(a, target, verdictOn(incident, a.recordId)));
  return [
    `:white_check_mark: *Resolved* after ${duration}${incident.resolvedBy ? ` by ${name(incident.resolvedBy)}` : ''}.`,
    `Alerts: ${totalAlerts(incident)} (${names.slice(0, 5).map(quote).join(', ') || 'none'})${incident.flaps ? `, ${incident.flaps} flaps` : ''}.`,
    ...(incident.note ? [`Note: ${quote(incident.note)}`] : []),
    actions.length ? '*Actions taken:*' : 'No actions were taken through opsbot.',
    ...actions,
  ];
}

/** GitHub refuses issue and comment bodies over 65,536 characters (422 "body is too long"). */
export const GITHUB_BODY_MAX = 65_536;
/** One alert's labels in the issue table; a 2,000-character label value stays readable but bounded. */
const ISSUE_ROW_LABELS_MAX = 1_000;

/** At most `max` characters (code points), ending in "…" when cut. */
function shorten(text: string, max: number): string {
  if (text.length <= max) return text;
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** A GitHub issue or comment body within GitHub's limit; a trailing marker line survives the cut. */
export function fitGitHubBody(body: string, marker = ''): string {
  const room = GITHUB_BODY_MAX - Array.from(marker).length - (marker ? 1 : 0);
  return marker ? `${shorten(body, room)}\n${marker}` : shorten(body, room);
}

/** The issue title, within GitHub's 256 characters (422 "title is too long" past it). */
export function issueTitle(incident: Pick<Incident, 'severity' | 'title'>): string {
  return shorten(gitHubTitle(`[${incident.severity}] ${incident.title}`), 256);
}

/** The issue body: the incident record on GitHub, with every piece of alert text escaped for markdown. */
export function issueBody(incident: Incident, channelLink: string | undefined): string {
  const alerts = Object.entries(incident.alerts).slice(0, 50);
  const unlisted = totalAlerts(incident) - incident.truncatedAlerts - alerts.length;
  const body = [
    `**Severity:** ${gitHubText(incident.severity)}  `,
    `**Source:** ${sourceNames(incident)}  `,
    ...incident.sources
      .filter((s) => s.link !== undefined && /^https:\/\/[^\s()<>[\]]+$/.test(s.link))
      .map((s) => `**${s.id}:** [${gitHubText(s.key)}](${s.link})  `),
    `**Opened:** ${new Date(incident.openedAt).toISOString()}  `,
    ...(channelLink ? [`**Channel:** ${channelLink}  `] : []),
    ...(incident.previous?.issue ? [`**Follows:** #${incident.previous.issue}  `] : []),
    '',
    ...(incident.annotations.summary
      ? [...incident.annotations.summary.split(/\r?\n/).map((l) => escapeGitHub(l)), '']
      : []),
    '| alert | status | labels |',
    '| --- | --- | --- |',
    ...alerts.map(
      ([, a]) =>
        `| ${gitHubText(a.labels.alertname ?? 'alert')} | ${a.status} | ${gitHubText(shorten(describeLabels(a.labels), ISSUE_ROW_LABELS_MAX))} |`,
    ),
    ...(unlisted > 0 ? [`…and ${unlisted} more`] : []),
    '',
  ].join('\n');
  return fitGitHubBody(body, `<!-- opsbot:incident:${incident.id} -->`);
}
