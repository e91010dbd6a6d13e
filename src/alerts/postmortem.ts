import type { Logger } from 'pino';
import type { OpsbotConfig } from '../config/schema.js';
import { StateError, UserInputError } from '../core/errors.js';
import { postmortemBranch, postmortemMarkdown, postmortemPath, postmortemTitle } from '../core/postmortem.js';
import { slackLink } from '../core/text.js';
import type { IncidentChat, IssueTracker, PostmortemDrafts } from '../ports.js';
import type { IncidentStore } from './store.js';

export interface IncidentPostmortemDeps {
  config: OpsbotConfig;
  store: IncidentStore;
  /** Without it (no GitHub credentials) drafts cannot be proposed. */
  drafts: PostmortemDrafts | undefined;
  issues: IssueTracker | undefined;
  chat: IncidentChat | undefined;
  /** The web root of GITHUB_API_URL's GitHub, for links to audit commits. */
  webUrl: string;
  log: Logger;
}

/** The web root of a GitHub API URL: api.github.com → github.com; GitHub Enterprise Server's /api/v3 → its host. */
export function gitHubWebUrl(apiUrl: string): string {
  const url = new URL(apiUrl);
  if (url.hostname === 'api.github.com') return 'https://github.com';
  return `${url.origin}${url.pathname.replace(/\/api\/v3\/?$/, '').replace(/\/+$/, '')}`;
}

/**
 * The postmortem draft of an incident, proposed as a pull request: rendered from the record,
 * committed on `postmortem/<id>`, linked once on the incident's issue, and (when asked) in its channel.
 */
export class IncidentPostmortems {
  constructor(private readonly deps: IncidentPostmortemDeps) {}

  async byChannel(channelId: string): Promise<{ id: string; url: string; number: number }> {
    const id = await this.deps.store.byChannel(channelId);
    if (!id) throw new StateError('not_found', 'This is not an incident channel.');
    return this.publish(id, { announce: false });
  }

  /** `announce`: post the link in the channel too (the command's own reply does it otherwise). */
  async publish(
    id: string,
    options: { announce: boolean },
  ): Promise<{ id: string; url: string; number: number }> {
    const settings = this.deps.config.incidents?.postmortem;
    if (!settings)
      throw new UserInputError(
        'Postmortem drafts are not set up: add incidents.postmortem: { repo, dir } to opsbot.yml.',
      );
    if (!this.deps.drafts)
      throw new UserInputError('Postmortem drafts need GitHub credentials (GITHUB_TOKEN or a GitHub App).');
    const incident = await this.deps.store.get(id);
    if (!incident) throw new StateError('not_found', `Incident ${id} is not recorded.`);
    const incidentsRepo = this.deps.config.incidents?.repo ?? '';
    const issue = incident.issue ? { repo: incidentsRepo, number: incident.issue } : undefined;
    const audit = this.deps.config.audit;
    const content = postmortemMarkdown(
      incident,
      { repo: audit.repo, branch: audit.branch, webUrl: this.deps.webUrl },
      issue,
    );
    const pull = await this.deps.drafts.publish(settings.repo, {
      branch: postmortemBranch(incident),
      path: postmortemPath(settings.dir, incident),
      content,
      message: `Postmortem draft for incident ${incident.id}`,
      title: postmortemTitle(incident),
      body: [
        `A postmortem draft for incident \`${incident.id}\`${issue ? ` (${issue.repo}#${issue.number})` : ''}, written by opsbot from the incident record.`,
        '',
        'Fill in the root cause, what went well and the action items, then merge.',
      ].join('\n'),
    });
    this.deps.log.info({ incidentId: id, pull: pull.url }, 'postmortem draft proposed');
    if (issue && this.deps.issues) {
      // Once per pull request: a re-run updates the same one, the issue already links it.
      const marker = `<!-- opsbot:postmortem:${incident.id}:${pull.number} -->`;
      if (!(await this.deps.issues.hasComment(issue.repo, issue.number, marker)))
        await this.deps.issues.comment(
          issue.repo,
          issue.number,
          `${marker}\nPostmortem draft: ${settings.repo}#${pull.number} (${pull.url})`,
        );
    }
    if (options.announce && this.deps.chat && incident.channelId)
      await this.deps.chat.postText(
        incident.channelId,
        `:memo: Postmortem draft: ${slackLink(pull.url, `${settings.repo}#${pull.number}`)}`,
      );
    return { id: incident.id, ...pull };
  }
}
