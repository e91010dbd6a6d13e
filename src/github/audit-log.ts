import type { Octokit } from '@octokit/rest';
import type { Audit } from '../config/schema.js';
import { type AuditRecord, auditCommitMessage, auditPath } from '../core/audit.js';
import type { AuditLog } from '../ports.js';
import { githubError } from './client.js';

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
    const [owner, repo] = settings.repo.split('/') as [string, string];
    this.owner = owner;
    this.repo = repo;
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
      return { location };
    } catch (err) {
      // 422 here means the file exists: an earlier attempt committed it and then lost the answer.
      if ((err as { status?: number }).status === 422 && (await this.alreadyWritten(path, body)))
        return { location };
      throw githubError(err, `the audit commit ${location}`);
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
