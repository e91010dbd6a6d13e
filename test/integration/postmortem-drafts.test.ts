import { Octokit } from '@octokit/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitHubPostmortemDrafts } from '../../src/github/postmortem-drafts.js';
import { type GitHubFake, startGitHubFake } from '../fakes/github.js';

const REPO = 'acme/postmortems';
const silentLog = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

let gh: GitHubFake;
let octokit: Octokit;

const draft = (content: string) => ({
  branch: 'postmortem/abc123-x',
  path: 'postmortems/20261123-abc123-x.md',
  content,
  message: 'Postmortem draft for incident abc123-x',
  title: 'Postmortem: [critical] HighErrorRate',
  body: 'A postmortem draft.',
});

async function refusal(call: Promise<unknown>): Promise<{ status: number; text: string }> {
  const err = (await call.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => e,
  )) as { status: number; response?: { data: unknown } };
  return { status: err.status, text: JSON.stringify(err.response?.data) };
}

beforeEach(async () => {
  gh = await startGitHubFake({ token: 'ghp_test' });
  gh.createRepo(REPO, { files: { 'README.md': 'Postmortems\n' } });
  octokit = new Octokit({ auth: 'ghp_test', baseUrl: gh.url, log: silentLog });
});

afterEach(async () => {
  await gh.close();
});

describe('the GitHub fake: git data API and pulls, as GitHub documents them', () => {
  it('refuses a ref that exists, a non-fast-forward update without force, and a second open PR for a head', async () => {
    const repo = { owner: 'acme', repo: 'postmortems' };
    const main = (await octokit.git.getRef({ ...repo, ref: 'heads/main' })).data.object.sha;
    expect((await refusal(octokit.git.getRef({ ...repo, ref: 'heads/nope' }))).status).toBe(404);
    const exists = await refusal(octokit.git.createRef({ ...repo, ref: 'refs/heads/main', sha: main }));
    expect(exists).toMatchObject({ status: 422 });
    expect(exists.text).toContain('Reference already exists');
    const badName = await refusal(octokit.git.createRef({ ...repo, ref: 'heads/x', sha: main }));
    expect(badName.status).toBe(422);

    const base = (await octokit.repos.getCommit({ ...repo, ref: main })).data.commit.tree.sha;
    const tree = await octokit.git.createTree({
      ...repo,
      base_tree: base,
      tree: [{ path: 'a.md', mode: '100644', type: 'blob', content: 'a\n' }],
    });
    const orphan = await octokit.git.createCommit({
      ...repo,
      message: 'orphan',
      tree: tree.data.sha,
      parents: [],
    });
    await octokit.git.createRef({ ...repo, ref: 'refs/heads/topic', sha: main });
    const notFf = await refusal(
      octokit.git.updateRef({ ...repo, ref: 'heads/topic', sha: orphan.data.sha, force: false }),
    );
    expect(notFf.status).toBe(422);
    expect(notFf.text).toContain('Update is not a fast forward');

    const child = await octokit.git.createCommit({
      ...repo,
      message: 'child',
      tree: tree.data.sha,
      parents: [main],
    });
    await octokit.git.updateRef({ ...repo, ref: 'heads/topic', sha: child.data.sha, force: false });
    expect(gh.files(REPO, 'topic')).toEqual({ 'README.md': 'Postmortems\n', 'a.md': 'a\n' });

    await octokit.pulls.create({ ...repo, head: 'topic', base: 'main', title: 'one' });
    const twice = await refusal(octokit.pulls.create({ ...repo, head: 'topic', base: 'main', title: 'two' }));
    expect(twice.status).toBe(422);
    expect(twice.text).toContain('A pull request already exists for acme:topic.');
    const same = await refusal(octokit.pulls.create({ ...repo, head: 'main', base: 'main', title: 'x' }));
    expect(same.text).toContain('No commits between main and main');
  });
});

describe('postmortem drafts as pull requests', () => {
  it('makes the branch, the commit and its tree from the default branch, then opens the pull request', async () => {
    const drafts = new GitHubPostmortemDrafts(octokit);
    const pull = await drafts.publish(REPO, draft('# Postmortem\n'));
    expect(pull.url).toBe(`https://github.com/${REPO}/pull/${pull.number}`);
    expect(gh.files(REPO, 'postmortem/abc123-x')).toEqual({
      'README.md': 'Postmortems\n',
      'postmortems/20261123-abc123-x.md': '# Postmortem\n',
    });
    const [top, parent] = gh.commits(REPO, 'postmortem/abc123-x');
    expect(top).toMatchObject({
      message: 'Postmortem draft for incident abc123-x',
      path: 'postmortems/20261123-abc123-x.md',
    });
    expect(parent?.sha).toBe(gh.commits(REPO, 'main')[0]?.sha);
    expect(gh.files(REPO, 'main')).toEqual({ 'README.md': 'Postmortems\n' });
    const listed = await octokit.pulls.list({ owner: 'acme', repo: 'postmortems', state: 'open' });
    expect(listed.data.map((p) => [p.number, p.title, p.head.ref, p.base.ref])).toEqual([
      [pull.number, 'Postmortem: [critical] HighErrorRate', 'postmortem/abc123-x', 'main'],
    ]);
    const calls = gh.requests.map(
      (r) => `${r.method} ${r.path.replace(/\/repos\/acme\/postmortems/, '')} ${r.status}`,
    );
    expect(calls).toEqual(
      expect.arrayContaining([
        'POST /git/blobs 201',
        'POST /git/trees 201',
        'POST /git/commits 201',
        'POST /git/refs 201',
        'POST /pulls 201',
      ]),
    );
  });

  it('running it again commits on top of the branch and updates the same pull request', async () => {
    const drafts = new GitHubPostmortemDrafts(octokit);
    const first = await drafts.publish(REPO, draft('v1\n'));
    const again = await drafts.publish(REPO, { ...draft('v2\n'), title: 'Postmortem: renamed' });
    expect(again).toEqual(first);
    expect(gh.files(REPO, 'postmortem/abc123-x')['postmortems/20261123-abc123-x.md']).toBe('v2\n');
    expect(gh.commits(REPO, 'postmortem/abc123-x').map((c) => c.message)).toHaveLength(3);
    const pulls = await octokit.pulls.list({ owner: 'acme', repo: 'postmortems', state: 'all' });
    expect(pulls.data.map((p) => [p.number, p.title])).toEqual([[first.number, 'Postmortem: renamed']]);
    expect(
      gh.requests.filter(
        (r) => r.method === 'PATCH' && r.path.endsWith('/git/refs/heads/postmortem/abc123-x'),
      ),
    ).toHaveLength(1);
  });

  it('on 422 "Reference already exists" it commits on top of that branch and moves it forward instead', async () => {
    // The branch appears right after the draft found it absent (another replica, or an earlier run whose answer was lost).
    const drafts = new GitHubPostmortemDrafts(octokit);
    let appeared = false;
    octokit.hook.error('request', (error, options) => {
      if (
        !appeared &&
        String(options.url).includes('/git/ref/') &&
        String(options.ref).includes('postmortem/')
      ) {
        appeared = true;
        gh.createBranch(REPO, 'postmortem/abc123-x');
      }
      throw error;
    });
    const pull = await drafts.publish(REPO, draft('raced\n'));
    const created = gh.requests.find((r) => r.method === 'POST' && r.path.endsWith('/git/refs'));
    expect(created?.status).toBe(422);
    const moved = gh.requests.find(
      (r) => r.method === 'PATCH' && r.path.endsWith('/git/refs/heads/postmortem/abc123-x'),
    );
    expect(moved).toMatchObject({ status: 200, body: expect.objectContaining({ force: false }) });
    expect(gh.files(REPO, 'postmortem/abc123-x')['postmortems/20261123-abc123-x.md']).toBe('raced\n');
    expect(pull.number).toBeGreaterThan(0);
  });

  it('updates a pull request already open for the branch rather than opening a second one', async () => {
    const drafts = new GitHubPostmortemDrafts(octokit);
    const first = await drafts.publish(REPO, draft('one\n'));
    const second = await new GitHubPostmortemDrafts(octokit).publish(REPO, draft('two\n'));
    expect(second.number).toBe(first.number);
    expect(gh.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/pulls'))).toHaveLength(1);
    expect(gh.requests.filter((r) => r.method === 'PATCH' && /\/pulls\/\d+$/.test(r.path))).toHaveLength(1);
  });
});
