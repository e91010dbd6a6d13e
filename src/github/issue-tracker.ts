import type { Octokit } from '@octokit/rest';
import type { IssueTracker } from '../ports.js';
import { githubError } from './errors.js';
import { repoParams } from './repo-name.js';

/** Incident issues and their comments over GitHub's REST API. */
export class GitHubIssueTracker implements IssueTracker {
  constructor(private readonly octokit: Octokit) {}

  async findIssue(repo: string, label: string, marker: string): Promise<number | undefined> {
    try {
      const issues = await this.octokit.paginate(this.octokit.issues.listForRepo, {
        ...repoParams(repo),
        labels: label,
        state: 'all',
        per_page: 100,
      });
      return issues.find((i) => i.body?.includes(marker))?.number;
    } catch (err) {
      throw githubError(err, `the issues of ${repo}`);
    }
  }

  async createIssue(repo: string, issue: { title: string; body: string; labels: string[] }): Promise<number> {
    try {
      return (await this.octokit.issues.create({ ...repoParams(repo), ...issue })).data.number;
    } catch (err) {
      throw githubError(err, `a new issue in ${repo}`);
    }
  }

  async updateIssue(
    repo: string,
    number: number,
    issue: { body: string; labels: string[]; state: 'open' | 'closed' },
  ): Promise<void> {
    try {
      await this.octokit.issues.update({ ...repoParams(repo), issue_number: number, ...issue });
    } catch (err) {
      throw githubError(err, `issue ${repo}#${number}`);
    }
  }

  async comment(repo: string, number: number, body: string): Promise<void> {
    try {
      await this.octokit.issues.createComment({ ...repoParams(repo), issue_number: number, body });
    } catch (err) {
      throw githubError(err, `a comment on ${repo}#${number}`);
    }
  }

  async hasComment(repo: string, number: number, marker: string): Promise<boolean> {
    try {
      const comments = await this.octokit.paginate(this.octokit.issues.listComments, {
        ...repoParams(repo),
        issue_number: number,
        per_page: 100,
      });
      return comments.some((c) => c.body?.includes(marker));
    } catch (err) {
      throw githubError(err, `the comments of ${repo}#${number}`);
    }
  }
}
