import type { Octokit } from '@octokit/rest';
import { z } from 'zod';
import { StateError } from '../core/errors.js';
import type { PullRequests } from '../ports.js';
import { githubError } from './errors.js';
import { repoParams } from './repo-name.js';

/** The fields of GitHub's pull request we use. */
export const PullRequestHead = z.object({
  state: z.string(),
  head: z.object({ sha: z.string().regex(/^[0-9a-f]{40}$/), ref: z.string() }),
});
export type PullRequestHead = z.infer<typeof PullRequestHead>;

export class GitHubPullRequests implements PullRequests {
  constructor(private readonly octokit: Octokit) {}

  async head(repo: string, number: number): Promise<{ sha: string; ref: string; state: string }> {
    let data: unknown;
    try {
      data = (await this.octokit.pulls.get({ ...repoParams(repo), pull_number: number })).data;
    } catch (err) {
      const failure = githubError(err, `pull request ${repo}#${number}`);
      if (failure.status === 404) {
        throw new StateError('not_found', `There is no pull request #${number} in ${repo}.`, { cause: err });
      }
      throw failure;
    }
    const pr = PullRequestHead.parse(data);
    return { sha: pr.head.sha, ref: pr.head.ref, state: pr.state };
  }

  async comment(repo: string, number: number, body: string): Promise<void> {
    try {
      await this.octokit.issues.createComment({ ...repoParams(repo), issue_number: number, body });
    } catch (err) {
      throw githubError(err, `a comment on ${repo}#${number}`);
    }
  }
}
