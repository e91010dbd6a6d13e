import type { Octokit } from '@octokit/rest';
import type { Audit } from '../config/schema.js';
import { type AuditRecord, auditCommitMessage, auditPath } from '../core/audit.js';
import { escapeGitHub, gitHubText, oneLine } from '../core/text.js';
import type { AuditLog } from '../ports.js';
import { githubError } from './errors.js';
import { repoParams } from './repo-name.js';

const REVIEW_LABEL = 'break-glass';

export function renderAuditFile(record: AuditRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

/** One commit per record in the audit repository; writing the same record twice leaves one file. */
export class GitHubAuditLog implements AuditLog {
  private readonly owner: string;
  private readonly repo: string;

  constructor(
    private readonly octokit: Octokit,
    private readonly settings: Audit,
  ) {
    ({ owner: this.owner, repo: this.repo } = repoParams(settings.repo));
  }

  async write(record: AuditRecord): Promise<{ location: string }> {
    const path = auditPath(this.settings.dir, record);
    const body = renderAuditFile(record);
    const location = `${this.settings.repo}@${this.settings.branch}:${path}`;
    try {
      await this.octokit.repos.createOrUpdateFileContents({
        owner: this.owner,
        repo: this.repo,
        path,
        branch: this.settings.branch,
        message: auditCommitMessage(record),
        content: Buffer.from(body).toString('base64'),
        committer: { name: 'opsbot', email: 'opsbot@users.noreply.github.com' },
      });
    } catch (err) {
      // 422 here means the file exists: an earlier attempt committed it and then lost the answer.
      const done = (err as { status?: number }).status === 422 && (await this.alreadyWritten(path, body));
      if (!done) throw githubError(err, `the audit commit ${location}`);
    }
    if (record.emergency && record.outcome !== 'requested') await this.openReview(record, path);
    if (record.incident) await this.commentOnIncident(record, path);
    return { location };
  }

  /** Actions taken in an incident channel also go on the incident's issue, once per record. */
  private async commentOnIncident(record: AuditRecord, path: string): Promise<void> {
    const { repo: fullName, issue } = record.incident!;
    const { owner, repo } = repoParams(fullName);
    const marker = `<!-- opsbot:record:${record.id} -->`;
    try {
      const comments = await this.octokit.paginate(this.octokit.issues.listComments, {
        owner,
        repo,
        issue_number: issue,
        per_page: 100,
      });
      if (comments.some((c) => c.body?.includes(marker))) return;
      // A Slack name is not a GitHub login: "@alice" must not notify whoever is alice on GitHub.
      const who = escapeGitHub(record.requester.name ? `@${record.requester.name}` : record.requester.id);
      const what = gitHubText([record.action, record.target].filter(Boolean).join(' '));
      await this.octokit.issues.createComment({
        owner,
        repo,
        issue_number: issue,
        body: [
          marker,
          `**${what}**${record.environment ? ` in \`${record.environment}\`` : ''} by ${who}: **${record.outcome}**`,
          '',
          gitHubText(record.message),
          ...(record.reason ? ['', `Reason: ${gitHubText(record.reason)}`] : []),
          '',
          `Audit record: \`${this.settings.repo}\` \`${path}\``,
        ].join('\n'),
      });
    } catch (err) {
      throw githubError(err, `the comment on ${fullName}#${issue}`);
    }
  }

  /** Break-glass actions get an issue, so that someone reviews them after the fact. Idempotent by record id. */
  private async openReview(record: AuditRecord, path: string): Promise<void> {
    const what = [record.action, record.target].filter(Boolean).join(' ');
    const who = record.requester.name ?? record.requester.id;
    const title = oneLine(
      `Break-glass review: ${what} in ${record.environment ?? '?'} by ${who} (${record.id})`,
    );

    try {
      const existing = await this.octokit.paginate(this.octokit.issues.listForRepo, {
        owner: this.owner,
        repo: this.repo,
        labels: REVIEW_LABEL,
        state: 'all',
        per_page: 100,
      });
      if (existing.some((issue) => issue.title === title)) return;
      await this.octokit.issues.create({
        owner: this.owner,
        repo: this.repo,
        title,
        labels: [REVIEW_LABEL],
        body: [
          `${gitHubText(who)} ran this with \`--emergency\`, without a second person's approval. Please review it.`,
          '',
          `Record: \`${path}\` on \`${this.settings.branch}\``,
          '',
          // Inside the fence no mention or reference works, and JSON escapes the newlines that could close it.
          '```json',
          JSON.stringify(record, null, 2),
          '```',
        ].join('\n'),
      });
    } catch (err) {
      throw githubError(err, `the break-glass review issue for ${record.id}`);
    }
  }

  private async alreadyWritten(path: string, body: string): Promise<boolean> {
    try {
      const { data } = await this.octokit.repos.getContent({
        owner: this.owner,
        repo: this.repo,
        path,
        ref: this.settings.branch,
      });
      if (Array.isArray(data) || data.type !== 'file' || !('content' in data)) return false;
      return Buffer.from(data.content, 'base64').toString('utf8') === body;
    } catch {
      return false;
    }
  }

  async ping(): Promise<void> {
    try {
      await this.octokit.repos.get({ owner: this.owner, repo: this.repo });
    } catch (err) {
      throw githubError(err, `reading ${this.settings.repo}`);
    }
  }
}
