import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Audit } from '../config/schema.js';
import { type AuditRecord, auditCommitMessage, auditPath } from '../core/audit.js';
import { ExternalServiceError } from '../core/errors.js';
import { renderAuditFile } from '../github/audit-log.js';
import type { AuditLog } from '../ports.js';

const run = promisify(execFile);

/**
 * Local mode without a GitHub token: the same one-commit-per-record trail, in a local git
 * repository, so `git log` there shows who did what.
 */
export class LocalGitAuditLog implements AuditLog {
  constructor(
    readonly directory: string,
    private readonly settings: Pick<Audit, 'dir'>,
  ) {}

  private git(...args: string[]) {
    return run('git', ['-C', this.directory, ...args], {
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'opsbot',
        GIT_AUTHOR_EMAIL: 'opsbot@localhost',
        GIT_COMMITTER_NAME: 'opsbot',
        GIT_COMMITTER_EMAIL: 'opsbot@localhost',
      },
    });
  }

  async init(): Promise<void> {
    mkdirSync(this.directory, { recursive: true });
    if (!existsSync(join(this.directory, '.git'))) await this.git('init', '--quiet', '--initial-branch=main');
  }

  async write(record: AuditRecord): Promise<{ location: string }> {
    const path = auditPath(this.settings.dir, record);
    const file = join(this.directory, path);
    const body = renderAuditFile(record);
    if (existsSync(file) && readFileSync(file, 'utf8') === body) return { location: file };
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, body);
      await this.git('add', '--', path);
      await this.git('commit', '--quiet', '-m', auditCommitMessage(record), '--', path);
      return { location: file };
    } catch (cause) {
      throw new ExternalServiceError('git', `could not commit the audit record to ${this.directory}`, {
        cause,
      });
    }
  }

  async ping(): Promise<void> {
    await this.git('rev-parse', '--git-dir');
  }
}
