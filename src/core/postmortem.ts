import { formatDuration } from './duration.js';
import { dateStamp, type Incident, issueTitle, verdictOn } from './incident.js';
import { gitHubText, gitHubTitle } from './text.js';

/** Where the audit commits live, so the draft can link each action's record. */
export interface AuditLocation {
  /** `owner/name` of the audit repository. */
  repo: string;
  branch: string;
  /** The web root of the GitHub that hosts it, e.g. https://github.com. */
  webUrl: string;
}

/** `postmortem/<incident-id>`: one branch per incident, so running it again finds the same pull request. */
export function postmortemBranch(incident: Pick<Incident, 'id'>): string {
  return `postmortem/${incident.id}`;
}

/** `<dir>/20261123-<incident-id>.md`: stable for an incident, sorted by date. */
export function postmortemPath(dir: string, incident: Pick<Incident, 'id' | 'openedAt'>): string {
  const prefix = dir.replace(/^\/+|\/+$/g, '');
  return `${prefix ? `${prefix}/` : ''}${dateStamp(incident.openedAt)}-${incident.id}.md`;
}

export function postmortemTitle(incident: Pick<Incident, 'severity' | 'title'>): string {
  return gitHubTitle(`Postmortem: ${issueTitle(incident)}`).slice(0, 256);
}

const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** When the impact began: the earliest alert the incident knows of, else its opening. */
export function impactStart(incident: Pick<Incident, 'alerts' | 'openedAt'>): number {
  const starts = Object.values(incident.alerts).map((a) => {
    const started = a.startsAt ? Date.parse(a.startsAt) : Number.NaN;
    return Number.isFinite(started) && started > 0 ? started : a.at;
  });
  return Math.min(incident.openedAt, ...starts.filter((t) => t > 0));
}

/** The audit commit of a record: the history of its file, which is the one commit that wrote it. */
function auditLink(audit: AuditLocation, path: string): string {
  const web = audit.webUrl.replace(/\/+$/, '');
  return `${web}/${audit.repo}/commits/${encodeURIComponent(audit.branch)}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * The postmortem draft: what opsbot knows (impact window, timeline of alerts and actions, people),
 * and the sections only people can write, left empty. Every piece of alert or user text is escaped.
 */
export function postmortemMarkdown(
  incident: Incident,
  audit: AuditLocation,
  issue?: { repo: string; number: number },
): string {
  const start = impactStart(incident);
  const end = incident.status === 'resolved' ? incident.resolvedAt : undefined;
  const window =
    end === undefined
      ? `${at(start)} – ongoing (not resolved yet)`
      : `${at(start)} – ${at(end)} (${formatDuration(end - start)})`;
  const events: { time: number; line: string }[] = [];
  for (const alert of Object.values(incident.alerts)) {
    const name = gitHubText(alert.labels.alertname ?? 'alert');
    const started = alert.startsAt ? Date.parse(alert.startsAt) : Number.NaN;
    if (Number.isFinite(started) && started > 0)
      events.push({ time: started, line: `alert **${name}** fired` });
    else if (alert.status === 'firing') events.push({ time: alert.at, line: `alert **${name}** fired` });
    if (alert.status === 'resolved') events.push({ time: alert.at, line: `alert **${name}** resolved` });
  }
  events.push({ time: incident.openedAt, line: `incident opened (${gitHubText(incident.source)})` });
  for (const action of incident.actions) {
    const verdict = verdictOn(incident, action.recordId);
    const parts = [
      `**${gitHubText(action.what)}** requested by ${gitHubText(action.who)}`,
      action.approver ? `approved by ${gitHubText(action.approver)}` : 'no approval needed',
      `outcome: **${gitHubText(action.outcome)}**`,
      ...(verdict ? [`verdict: **${gitHubText(verdict.verdict)}**`] : []),
    ];
    const link = action.auditPath ? ` ([audit commit](${auditLink(audit, action.auditPath)}))` : '';
    events.push({ time: action.time, line: `${parts.join(', ')}${link}` });
  }
  // When the verdict was reached is part of the story: how long the fix took to show.
  for (const verdict of incident.verdicts)
    events.push({ time: verdict.time, line: gitHubText(verdict.line) });
  if (end !== undefined)
    events.push({
      time: end,
      line: `incident resolved${incident.resolvedBy ? ` by ${gitHubText(incident.resolvedBy)}` : ''}`,
    });
  // A stable sort keeps same-second events in the order they were added.
  events.sort((a, b) => a.time - b.time);
  const people = [
    ...new Set(
      [
        ...incident.actions.flatMap((a) => [a.who, ...(a.approver ? [a.approver] : [])]),
        ...(incident.resolvedBy && incident.resolvedBy !== 'the alerts' ? [incident.resolvedBy] : []),
      ].map(gitHubText),
    ),
  ];
  return [
    `# ${gitHubText(postmortemTitle(incident))}`,
    '',
    `**Severity:** ${gitHubText(incident.severity)}  `,
    `**Impact window:** ${window}  `,
    `**Incident:** ${gitHubText(incident.id)}${issue ? ` (${issue.repo}#${issue.number})` : ''}  `,
    ...(incident.channelName ? [`**Channel:** #${gitHubText(incident.channelName)}  `] : []),
    '',
    '## Timeline',
    '',
    ...events.map((e) => `- ${at(e.time)} ${e.line}`),
    '',
    '## People involved',
    '',
    ...(people.length ? people.map((p) => `- ${p}`) : ['- (nobody acted through opsbot)']),
    '',
    '## Root cause',
    '',
    '## What went well',
    '',
    '## Action items',
    '',
  ].join('\n');
}
