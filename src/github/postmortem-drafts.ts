import type { Octokit } from '@octokit/rest';
import type { PostmortemDraft, PostmortemDrafts } from '../ports.js';
import { githubError } from './errors.js';
import { repoParams } from './repo-name.js';

function status(err: unknown): number | undefined {
  return (err as { status?: number }).status;
}

function says(err: unknown, text: string): boolean {
  const data = (err as { response?: { data?: unknown } }).response?.data;
  return JSON.stringify(data ?? '').includes(text);
}

/** A branch moved between reading it and writing it: read it again and commit on top, at most this often. */
const MAX_RACES = 3;

/**
 * Postmortem drafts as pull requests through the Git data API, without a clone: one blob, a tree
 * on top of the branch's, a commit, then the branch ref created (or moved forward) and the pull
 * request opened (or updated). Running it again commits on top of the same branch and updates the same pull request.
 */
export class GitHubPostmortemDrafts implements PostmortemDrafts {
  constructor(private readonly octokit: Octokit) {}

  async publish(repoName: string, draft: PostmortemDraft): Promise<{ number: number; url: string }> {
    const repo = repoParams(repoName);
    const gh = this.octokit;
    const step = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
      try {
        return await call();
      } catch (err) {
        throw githubError(err, `${what} in ${repoName}`);
      }
    };
    const base = await step(
      'reading the repository',
      async () => (await gh.repos.get(repo)).data.default_branch,
    );
    const refSha = async (branch: string): Promise<string | undefined> => {
      try {
        return (await gh.git.getRef({ ...repo, ref: `heads/${branch}` })).data.object.sha;
      } catch (err) {
        if (status(err) === 404) return undefined;
        throw githubError(err, `the ref heads/${branch} in ${repoName}`);
      }
    };
    const baseSha = await refSha(base);
    if (!baseSha) throw githubError(new Error('no base branch'), `the default branch ${base} of ${repoName}`);
    let head = await refSha(draft.branch);
    for (let race = 0; ; race++) {
      const commit = await this.commitOnTop(repoName, head ?? baseSha, draft);
      try {
        if (head === undefined)
          await gh.git.createRef({ ...repo, ref: `refs/heads/${draft.branch}`, sha: commit });
        else await gh.git.updateRef({ ...repo, ref: `heads/${draft.branch}`, sha: commit, force: false });
        break;
      } catch (err) {
        // Made by an earlier run (or moved by someone) meanwhile: commit again on top of its head.
        const moved =
          status(err) === 422 &&
          (says(err, 'Reference already exists') || says(err, 'Update is not a fast forward'));
        if (!moved || race >= MAX_RACES) throw githubError(err, `the branch ${draft.branch} in ${repoName}`);
        head = await refSha(draft.branch);
      }
    }
    return this.openOrUpdatePull(repoName, base, draft);
  }

  /** Blob, tree on top of the parent's tree, and a commit whose only parent is `parent`. */
  private async commitOnTop(repoName: string, parent: string, draft: PostmortemDraft): Promise<string> {
    const repo = repoParams(repoName);
    const gh = this.octokit;
    try {
      const parentTree = (await gh.repos.getCommit({ ...repo, ref: parent })).data.commit.tree.sha;
      const blob = await gh.git.createBlob({ ...repo, content: draft.content, encoding: 'utf-8' });
      const tree = await gh.git.createTree({
        ...repo,
        base_tree: parentTree,
        tree: [{ path: draft.path, mode: '100644', type: 'blob', sha: blob.data.sha }],
      });
      const commit = await gh.git.createCommit({
        ...repo,
        message: draft.message,
        tree: tree.data.sha,
        parents: [parent],
      });
      return commit.data.sha;
    } catch (err) {
      throw githubError(err, `the commit of ${draft.path} in ${repoName}`);
    }
  }

  private async openOrUpdatePull(
    repoName: string,
    base: string,
    draft: PostmortemDraft,
  ): Promise<{ number: number; url: string }> {
    const repo = repoParams(repoName);
    const gh = this.octokit;
    const findOpen = async () => {
      const pulls = await gh.paginate(gh.pulls.list, {
        ...repo,
        head: `${repo.owner}:${draft.branch}`,
        state: 'open',
        per_page: 100,
      });
      return pulls[0];
    };
    try {
      let pull = await findOpen();
      if (!pull) {
        try {
          const created = await gh.pulls.create({
            ...repo,
            head: draft.branch,
            base,
            title: draft.title,
            body: draft.body,
          });
          return { number: created.data.number, url: created.data.html_url };
        } catch (err) {
          // Opened by a concurrent run between the listing and the create: update that one.
          if (!(status(err) === 422 && says(err, 'A pull request already exists'))) throw err;
          pull = await findOpen();
          if (!pull) throw err;
        }
      }
      await gh.pulls.update({ ...repo, pull_number: pull.number, title: draft.title, body: draft.body });
      return { number: pull.number, url: pull.html_url };
    } catch (err) {
      throw githubError(err, `the pull request of ${draft.branch} in ${repoName}`);
    }
  }
}
