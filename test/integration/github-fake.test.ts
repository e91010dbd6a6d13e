import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GitHubFake, startGitHubFake } from '../fakes/github.js';

const REPO = { owner: 'acme', repo: 'ops-audit' } as const;
const FULL = 'acme/ops-audit';

let gh: GitHubFake;
let octokit: Octokit;

function client(auth?: string): Octokit {
  return new Octokit({ ...(auth === undefined ? {} : { auth }), baseUrl: gh.url, log: silentLog });
}

const silentLog = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

interface CaughtHttpError {
  status: number;
  message: string;
  data: { message?: string; documentation_url?: string; status?: string } | string;
  headers: Record<string, string | undefined>;
}

/** The RequestError of a rejected Octokit call, reduced to what tests assert on. */
async function httpError(call: Promise<unknown>): Promise<CaughtHttpError> {
  const err = (await call.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => e,
  )) as {
    status: number;
    message: string;
    response?: { data: CaughtHttpError['data']; headers: CaughtHttpError['headers'] };
  };
  expect(typeof err.status).toBe('number');
  return {
    status: err.status,
    message: err.message,
    data: err.response?.data ?? '',
    headers: err.response?.headers ?? {},
  };
}

/** Sends a request the typed routes would refuse, e.g. one missing a required field. */
function untyped(route: string, params: Record<string, unknown>): Promise<unknown> {
  return octokit.request(route, params);
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** Git's blob id, computed independently of the fake. */
function blobSha(text: string): string {
  const buf = Buffer.from(text, 'utf8');
  return createHash('sha1')
    .update(Buffer.concat([Buffer.from(`blob ${buf.length}\0`), buf]))
    .digest('hex');
}

async function putFile(path: string, text: string, extra: { sha?: string; branch?: string } = {}) {
  return octokit.rest.repos.createOrUpdateFileContents({
    ...REPO,
    path,
    message: `write ${path}`,
    content: b64(text),
    ...extra,
  });
}

beforeEach(async () => {
  gh = await startGitHubFake();
  octokit = client('ghp_test');
  gh.createRepo(FULL);
});

afterEach(async () => {
  await gh.close();
});

describe('github fake: auth and errors', () => {
  it('answers with JSON, rate-limit headers and the real error shapes', async () => {
    const meta = await octokit.request('GET /');
    expect(meta.status).toBe(200);
    expect(meta.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(meta.headers['x-ratelimit-limit']).toBe('5000');
    const repo = await octokit.rest.repos.get(REPO);
    expect(repo.data).toMatchObject({ full_name: FULL, default_branch: 'main' });
    const missing = await httpError(octokit.rest.repos.get({ owner: 'acme', repo: 'nope' }));
    expect(missing.status).toBe(404);
    expect(missing.data).toMatchObject({
      message: 'Not Found',
      documentation_url: 'https://docs.github.com/rest',
    });
  });

  it('rejects a wrong token with 401 Bad credentials and a missing one with 401', async () => {
    const wrong = await httpError(client('ghp_wrong').rest.repos.get(REPO));
    expect(wrong.status).toBe(401);
    expect(wrong.data).toEqual({
      message: 'Bad credentials',
      documentation_url: 'https://docs.github.com/rest',
      status: '401',
    });
    const missing = await httpError(client().rest.repos.get(REPO));
    expect(missing.status).toBe(401);
    const bearer = await client('ghp_test').request('GET /repos/{owner}/{repo}', {
      ...REPO,
      headers: { authorization: 'Bearer ghp_test' },
    });
    expect(bearer.status).toBe(200);
  });

  it('refuses /app routes without a JWT of a configured app', async () => {
    const notJwt = await httpError(octokit.rest.apps.createInstallationAccessToken({ installation_id: 42 }));
    expect(notJwt).toMatchObject({ status: 401, data: { message: 'A JSON web token could not be decoded' } });
    const anyJwt = await httpError(
      client('header.payload.signature').rest.apps.createInstallationAccessToken({ installation_id: 42 }),
    );
    expect(anyJwt.status).toBe(401);
  });

  it('serves /rate_limit', async () => {
    const res = await octokit.rest.rateLimit.get();
    expect(res.data.resources.core).toMatchObject({ limit: 5000, remaining: expect.any(Number) });
  });

  it('records every request with its path, status and body', async () => {
    await putFile('a.txt', 'a');
    await httpError(octokit.rest.repos.getContent({ ...REPO, path: 'missing.txt' }));
    expect(gh.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ['PUT', '/repos/acme/ops-audit/contents/a.txt', 201],
      ['GET', '/repos/acme/ops-audit/contents/missing.txt', 404],
    ]);
    expect(gh.requests[0]?.body).toMatchObject({ message: 'write a.txt', content: b64('a') });
  });
});

describe('github fake: contents', () => {
  it('creates a file with 201 and the git blob sha, then reads it back', async () => {
    const empty = await httpError(octokit.rest.repos.getContent({ ...REPO, path: 'x' }));
    expect(empty).toMatchObject({ status: 404, data: { message: 'This repository is empty.' } });
    const created = await putFile('audit/2024/run-1.json', '{"ok":true}\n');
    expect(created.status).toBe(201);
    expect(created.data.content).toMatchObject({
      name: 'run-1.json',
      path: 'audit/2024/run-1.json',
      sha: blobSha('{"ok":true}\n'),
    });
    expect(created.data.commit).toMatchObject({
      message: 'write audit/2024/run-1.json',
      sha: expect.stringMatching(/^[0-9a-f]{40}$/),
    });
    expect(created.data.commit.html_url).toContain(created.data.commit.sha ?? 'missing');

    const read = await octokit.rest.repos.getContent({ ...REPO, path: 'audit/2024/run-1.json' });
    const file = read.data as { type: string; encoding: string; content: string; sha: string; size: number };
    expect(file).toMatchObject({ type: 'file', encoding: 'base64', sha: blobSha('{"ok":true}\n'), size: 12 });
    expect(Buffer.from(file.content, 'base64').toString('utf8')).toBe('{"ok":true}\n');
    expect(gh.files(FULL)).toEqual({ 'audit/2024/run-1.json': '{"ok":true}\n' });
  });

  it('lists directories and answers 404 for missing paths', async () => {
    await putFile('audit/a.json', 'a');
    await putFile('audit/2024/b.json', 'b');
    await putFile('README.md', 'r');
    const dir = await octokit.rest.repos.getContent({ ...REPO, path: 'audit' });
    expect((dir.data as { name: string; type: string }[]).map((e) => [e.name, e.type])).toEqual([
      ['2024', 'dir'],
      ['a.json', 'file'],
    ]);
    const root = await octokit.rest.repos.getContent({ ...REPO, path: '' });
    expect((root.data as { path: string }[]).map((e) => e.path)).toEqual(['audit', 'README.md']);
    const missing = await httpError(octokit.rest.repos.getContent({ ...REPO, path: 'audit/nope.json' }));
    expect(missing.status).toBe(404);
  });

  it('updates with 200 when sha matches; 422 without sha and 409 with a stale one', async () => {
    const first = await putFile('state.json', 'v1');
    const noSha = await httpError(putFile('state.json', 'v2'));
    expect(noSha.status).toBe(422);
    expect(noSha.data).toMatchObject({
      message: 'Invalid request.\n\n"sha" wasn\'t supplied.',
      status: '422',
    });
    const updated = await putFile('state.json', 'v2', { sha: first.data.content?.sha ?? '' });
    expect(updated.status).toBe(200);
    const stale = await httpError(putFile('state.json', 'v3', { sha: first.data.content?.sha ?? '' }));
    expect(stale.status).toBe(409);
    expect(stale.data).toMatchObject({ message: `state.json does not match ${first.data.content?.sha}` });
    expect(gh.files(FULL)['state.json']).toBe('v2');
    expect(gh.commits(FULL).map((c) => [c.message, c.path])).toEqual([
      ['write state.json', 'state.json'],
      ['write state.json', 'state.json'],
    ]);
    expect(gh.commits(FULL)[0]?.sha).toBe(updated.data.commit.sha);
  });

  it('writes to other branches and answers 404 for unknown ones', async () => {
    gh.createBranch(FULL, 'audit');
    await putFile('x.txt', 'on audit', { branch: 'audit' });
    expect(gh.files(FULL, 'audit')).toEqual({ 'x.txt': 'on audit' });
    expect(gh.files(FULL)).toEqual({});
    const read = await octokit.rest.repos.getContent({ ...REPO, path: 'x.txt', ref: 'audit' });
    expect((read.data as { sha: string }).sha).toBe(blobSha('on audit'));
    const unknown = await httpError(putFile('x.txt', 'x', { branch: 'nope' }));
    expect(unknown.status).toBe(404);
    expect(unknown.data).toMatchObject({ message: 'Branch nope not found' });
    const badRef = await httpError(octokit.rest.repos.getContent({ ...REPO, path: 'x.txt', ref: 'nope' }));
    expect(badRef).toMatchObject({ status: 404, data: { message: 'No commit found for the ref nope' } });
  });

  it('answers 422 when message or content is missing', async () => {
    const noMessage = await httpError(untyped('PUT /repos/acme/ops-audit/contents/a', { content: b64('a') }));
    expect(noMessage).toMatchObject({
      status: 422,
      data: { message: 'Invalid request.\n\n"message" wasn\'t supplied.' },
    });
    const noContent = await httpError(untyped('PUT /repos/acme/ops-audit/contents/a', { message: 'm' }));
    expect(noContent).toMatchObject({
      status: 422,
      data: { message: 'Invalid request.\n\n"content" wasn\'t supplied.' },
    });
  });
});

describe('github fake: commits and branches', () => {
  it('lists commits newest first with Link pagination that octokit.paginate follows', async () => {
    for (let i = 1; i <= 5; i++) await putFile(i % 2 ? `odd/${i}.txt` : `even/${i}.txt`, String(i));
    const first = await octokit.rest.repos.listCommits({ ...REPO, per_page: 2 });
    expect(first.data).toHaveLength(2);
    expect(first.headers.link).toMatch(/[?&]page=2[^>]*>; rel="next"/);
    expect(first.headers.link).toMatch(/[?&]page=3[^>]*>; rel="last"/);
    const all = await octokit.paginate(octokit.rest.repos.listCommits, { ...REPO, per_page: 2 });
    expect(all.map((c) => c.commit.message)).toEqual(
      [5, 4, 3, 2, 1].map((i) => `write ${i % 2 ? 'odd' : 'even'}/${i}.txt`),
    );
    expect(all.map((c) => c.sha)).toEqual(gh.commits(FULL).map((c) => c.sha));
    const odd = await octokit.paginate(octokit.rest.repos.listCommits, { ...REPO, path: 'odd', per_page: 1 });
    expect(odd).toHaveLength(3);
    const unknown = await httpError(octokit.rest.repos.listCommits({ ...REPO, sha: 'nope' }));
    expect(unknown.status).toBe(404);
  });

  it('gets a branch with its head commit and answers 404 for unknown branches', async () => {
    const put = await putFile('a', 'a');
    const branch = await octokit.rest.repos.getBranch({ ...REPO, branch: 'main' });
    expect(branch.data).toMatchObject({
      name: 'main',
      commit: { sha: put.data.commit.sha },
      protected: false,
    });
    const unknown = await httpError(octokit.rest.repos.getBranch({ ...REPO, branch: 'nope' }));
    expect(unknown).toMatchObject({ status: 404, data: { message: 'Branch not found' } });
  });

  it('seeds repositories with files in an initial commit', async () => {
    gh.createRepo('acme/seeded', { defaultBranch: 'trunk', files: { 'ops.yml': 'x: 1\n' } });
    const res = await octokit.rest.repos.getContent({ owner: 'acme', repo: 'seeded', path: 'ops.yml' });
    expect((res.data as { sha: string }).sha).toBe(blobSha('x: 1\n'));
    expect(gh.commits('acme/seeded', 'trunk')).toHaveLength(1);
  });
});

describe('github fake: issues', () => {
  it('creates issues with 201 and auto-created labels; 422 without a title', async () => {
    const res = await octokit.rest.issues.create({
      ...REPO,
      title: 'Deploy api 1.2.3 to prod',
      body: 'requested by @alice',
      labels: ['opsbot', 'deploy'],
      assignees: ['alice'],
    });
    expect(res.status).toBe(201);
    expect(res.data).toMatchObject({
      number: 1,
      title: 'Deploy api 1.2.3 to prod',
      body: 'requested by @alice',
      state: 'open',
      labels: [{ name: 'opsbot' }, { name: 'deploy' }],
      html_url: 'https://github.com/acme/ops-audit/issues/1',
    });
    expect(res.data.id).toEqual(expect.any(Number));
    expect(res.data.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const noTitle = await httpError(untyped('POST /repos/acme/ops-audit/issues', { body: 'x' }));
    expect(noTitle).toMatchObject({
      status: 422,
      data: { message: 'Invalid request.\n\n"title" wasn\'t supplied.' },
    });
    expect(gh.issues(FULL)).toEqual([
      expect.objectContaining({
        number: 1,
        labels: ['opsbot', 'deploy'],
        assignees: ['alice'],
        comments: [],
      }),
    ]);
  });

  it('refuses titles over 256 and bodies over 65,536 characters with 422, as GitHub does', async () => {
    const tooLong = (field: string, max: number, resource = 'Issue') => ({
      status: 422,
      data: {
        message: 'Validation Failed',
        errors: [
          { resource, code: 'custom', field, message: `${field} is too long (maximum is ${max} characters)` },
        ],
      },
    });
    expect(await httpError(octokit.rest.issues.create({ ...REPO, title: 't'.repeat(257) }))).toMatchObject(
      tooLong('title', 256),
    );
    const big = '😀'.repeat(65_537);
    expect(await httpError(octokit.rest.issues.create({ ...REPO, title: 'x', body: big }))).toMatchObject(
      tooLong('body', 65_536),
    );
    // Characters, not UTF-16 units: 65,536 emoji fit.
    const { data } = await octokit.rest.issues.create({
      ...REPO,
      title: 't'.repeat(256),
      body: big.slice(2),
    });
    expect(
      await httpError(octokit.rest.issues.update({ ...REPO, issue_number: data.number, body: big })),
    ).toMatchObject(tooLong('body', 65_536));
    expect(
      await httpError(octokit.rest.issues.createComment({ ...REPO, issue_number: data.number, body: big })),
    ).toMatchObject(tooLong('body', 65_536, 'IssueComment'));
    expect(gh.issues(FULL)).toHaveLength(1);
  });

  it('gets, closes and reopens issues; 404 for unknown numbers', async () => {
    await octokit.rest.issues.create({ ...REPO, title: 'incident' });
    const closed = await octokit.rest.issues.update({
      ...REPO,
      issue_number: 1,
      state: 'closed',
      state_reason: 'not_planned',
    });
    expect(closed.data).toMatchObject({
      state: 'closed',
      state_reason: 'not_planned',
      closed_at: expect.any(String),
    });
    const reopened = await octokit.rest.issues.update({
      ...REPO,
      issue_number: 1,
      state: 'open',
      title: 'incident (again)',
    });
    expect(reopened.data).toMatchObject({ state: 'open', state_reason: 'reopened', closed_at: null });
    const got = await octokit.rest.issues.get({ ...REPO, issue_number: 1 });
    expect(got.data.title).toBe('incident (again)');
    expect((await httpError(octokit.rest.issues.get({ ...REPO, issue_number: 99 }))).status).toBe(404);
  });

  it('lists issues by state and labels, newest first, through octokit.paginate', async () => {
    for (let i = 1; i <= 5; i++) {
      await octokit.rest.issues.create({
        ...REPO,
        title: `t${i}`,
        labels: i % 2 ? ['incident', 'sev1'] : ['deploy'],
      });
    }
    await octokit.rest.issues.update({ ...REPO, issue_number: 5, state: 'closed' });
    const open = await octokit.paginate(octokit.rest.issues.listForRepo, { ...REPO, per_page: 2 });
    expect(open.map((i) => i.number)).toEqual([4, 3, 2, 1]);
    const incidents = await octokit.paginate(octokit.rest.issues.listForRepo, {
      ...REPO,
      state: 'all',
      labels: 'incident,sev1',
      per_page: 1,
    });
    expect(incidents.map((i) => i.number)).toEqual([5, 3, 1]);
    const closed = await octokit.rest.issues.listForRepo({ ...REPO, state: 'closed' });
    expect(closed.data.map((i) => i.number)).toEqual([5]);
  });

  it('adds and pages comments', async () => {
    await octokit.rest.issues.create({ ...REPO, title: 'incident' });
    const comment = await octokit.rest.issues.createComment({
      ...REPO,
      issue_number: 1,
      body: 'rolled back',
    });
    expect(comment.status).toBe(201);
    expect(comment.data).toMatchObject({ body: 'rolled back', user: { login: 'opsbot[bot]' } });
    for (let i = 0; i < 4; i++)
      await octokit.rest.issues.createComment({ ...REPO, issue_number: 1, body: `c${i}` });
    const all = await octokit.paginate(octokit.rest.issues.listComments, {
      ...REPO,
      issue_number: 1,
      per_page: 2,
    });
    expect(all.map((c) => c.body)).toEqual(['rolled back', 'c0', 'c1', 'c2', 'c3']);
    expect(gh.issues(FULL)[0]?.comments.map((c) => c.body)).toEqual(all.map((c) => c.body));
    const noBody = await httpError(untyped('POST /repos/acme/ops-audit/issues/1/comments', {}));
    expect(noBody.status).toBe(422);
    const unknown = await httpError(
      octokit.rest.issues.createComment({ ...REPO, issue_number: 9, body: 'x' }),
    );
    expect(unknown.status).toBe(404);
  });

  it('adds, sets, removes and clears labels', async () => {
    await octokit.rest.issues.create({ ...REPO, title: 'incident', labels: ['incident'] });
    const added = await octokit.rest.issues.addLabels({
      ...REPO,
      issue_number: 1,
      labels: ['sev1', 'incident'],
    });
    expect(added.data.map((l) => l.name)).toEqual(['incident', 'sev1']);
    const removed = await octokit.rest.issues.removeLabel({ ...REPO, issue_number: 1, name: 'sev1' });
    expect(removed.data.map((l) => l.name)).toEqual(['incident']);
    const missing = await httpError(
      octokit.rest.issues.removeLabel({ ...REPO, issue_number: 1, name: 'sev1' }),
    );
    expect(missing).toMatchObject({ status: 404, data: { message: 'Label does not exist' } });
    await octokit.rest.issues.setLabels({
      ...REPO,
      issue_number: 1,
      labels: ['resolved', 'needs review/ops'],
    });
    expect(gh.issues(FULL)[0]?.labels).toEqual(['resolved', 'needs review/ops']);
    await octokit.rest.issues.removeLabel({ ...REPO, issue_number: 1, name: 'needs review/ops' });
    expect(gh.issues(FULL)[0]?.labels).toEqual(['resolved']);
    const cleared = await octokit.rest.issues.removeAllLabels({ ...REPO, issue_number: 1 });
    expect(cleared.status).toBe(204);
    expect(gh.issues(FULL)[0]?.labels).toEqual([]);
  });
});

describe('github fake: pull requests', () => {
  it('serves pulls, takes PR comments on the issues endpoint and shares the numbering', async () => {
    gh.addPullRequest(FULL, { number: 7, headSha: 'a'.repeat(40), headRef: 'feature/x' });
    const pr = await octokit.rest.pulls.get({ ...REPO, pull_number: 7 });
    expect(pr.data).toMatchObject({
      number: 7,
      state: 'open',
      html_url: 'https://github.com/acme/ops-audit/pull/7',
      head: { sha: 'a'.repeat(40), ref: 'feature/x' },
      base: { ref: 'main' },
    });
    await octokit.rest.issues.createComment({ ...REPO, issue_number: 7, body: 'deployed to staging' });
    expect(gh.pullComments(FULL, 7).map((c) => c.body)).toEqual(['deployed to staging']);
    expect((await httpError(octokit.rest.pulls.get({ ...REPO, pull_number: 8 }))).status).toBe(404);
    const issue = await octokit.rest.issues.create({ ...REPO, title: 'after the PR' });
    expect(issue.data.number).toBe(8);
    expect((await httpError(octokit.rest.pulls.get({ ...REPO, pull_number: 8 }))).status).toBe(404);
    expect(gh.issues(FULL).map((i) => i.number)).toEqual([8]);
  });
});

describe('github fake: injected faults', () => {
  it('fails a number of requests with 5xx, then recovers', async () => {
    gh.failFor({ status: 502, times: 1 });
    const bad = await httpError(octokit.rest.repos.get(REPO));
    expect(bad.status).toBe(502);
    expect((await octokit.rest.repos.get(REPO)).status).toBe(200);
    gh.failFor({ status: 503, times: 2 });
    expect((await httpError(octokit.rest.repos.get(REPO))).status).toBe(503);
    expect((await httpError(octokit.rest.repos.get(REPO))).status).toBe(503);
    expect((await octokit.rest.repos.get(REPO)).status).toBe(200);
  });

  it('fails for a duration and only on matching paths', async () => {
    gh.failFor({ status: 500, durationMs: 500, path: /\/issues/ });
    expect((await octokit.rest.repos.get(REPO)).status).toBe(200);
    expect((await httpError(octokit.rest.issues.create({ ...REPO, title: 'x' }))).status).toBe(500);
    await new Promise((r) => setTimeout(r, 600));
    expect((await octokit.rest.issues.create({ ...REPO, title: 'x' })).status).toBe(201);
  });

  it('answers 429 and 403 rate limits with retry-after and x-ratelimit headers', async () => {
    gh.failFor({ status: 429, times: 1, retryAfterSeconds: 3 });
    const secondary = await httpError(octokit.rest.repos.get(REPO));
    expect(secondary.status).toBe(429);
    expect(secondary.headers['retry-after']).toBe('3');
    expect(secondary.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(secondary.headers['x-ratelimit-reset'])).toBeGreaterThanOrEqual(
      Math.floor(Date.now() / 1000) + 2,
    );
    gh.failFor({ status: 403, times: 1 });
    const primary = await httpError(octokit.rest.repos.get(REPO));
    expect(primary.status).toBe(403);
    expect(primary.headers['retry-after']).toBe('1');
    expect(primary.headers['x-ratelimit-remaining']).toBe('0');
    expect(primary.data).toMatchObject({ message: expect.stringMatching(/rate limit/) });
  });

  it('clears faults', async () => {
    gh.failFor({ status: 503 });
    expect((await httpError(octokit.rest.repos.get(REPO))).status).toBe(503);
    gh.clearFaults();
    expect((await octokit.rest.repos.get(REPO)).status).toBe(200);
  });

  it('waitFor polls state until it holds', async () => {
    setTimeout(() => void octokit.rest.issues.create({ ...REPO, title: 'later' }), 50);
    const issue = await gh.waitFor(() => gh.issues(FULL)[0], 2000);
    expect(issue.title).toBe('later');
    await expect(gh.waitFor(() => undefined, 50)).rejects.toThrow(/timed out/);
  });
});

describe('github fake: the GitHub App flow on a GitHub Enterprise Server prefix', () => {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKey = keys.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const publicKey = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  let ghes: GitHubFake;

  beforeEach(async () => {
    ghes = await startGitHubFake({
      token: 'ghp_unused',
      app: { id: 12345, publicKey, installationId: 42, tokenTtlMs: 1_500 },
      pathPrefix: '/api/v3',
    });
    ghes.createRepo(FULL);
  });

  afterEach(async () => {
    await ghes.close();
  });

  const at = (auth?: string) =>
    new Octokit({ ...(auth === undefined ? {} : { auth }), baseUrl: ghes.url, log: silentLog });
  /** A JWT signed by hand, to set claims @octokit/auth-app never would. */
  const jwt = (claims: Record<string, unknown>, key = privateKey) => {
    const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const unsigned = `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}`;
    return `${unsigned}.${sign('RSA-SHA256', Buffer.from(unsigned), key).toString('base64url')}`;
  };

  it('exchanges an RS256 JWT for an installation token that expires, under /api/v3', async () => {
    expect(ghes.url).toMatch(/\/api\/v3$/);
    const { token: appJwt } = await createAppAuth({ appId: 12345, privateKey })({ type: 'app' });
    const res = await at(appJwt).rest.apps.createInstallationAccessToken({ installation_id: 42 });
    expect(res.status).toBe(201);
    expect(res.data.token).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
    expect(res.data.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const installation = at(res.data.token);
    expect((await installation.rest.repos.get(REPO)).status).toBe(200);
    // The API lives under the prefix only.
    expect((await fetch(`${ghes.url.replace(/\/api\/v3$/, '')}/repos/${FULL}`)).status).toBe(404);
    await new Promise((r) => setTimeout(r, Date.parse(res.data.expires_at) - Date.now() + 50));
    expect(await httpError(installation.rest.repos.get(REPO))).toMatchObject({
      status: 401,
      data: { message: 'Bad credentials' },
    });
  });

  it('refuses JWTs GitHub refuses: another key, a foreign app, an exp too far ahead or past; and unknown installations', async () => {
    const now = Math.floor(Date.now() / 1000);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const refusal = async (token: string, installation_id = 42) =>
      (await httpError(at(token).rest.apps.createInstallationAccessToken({ installation_id }))).data;
    expect(
      await refusal(
        jwt(
          { iat: now - 30, exp: now + 540, iss: '12345' },
          other.export({ type: 'pkcs1', format: 'pem' }).toString(),
        ),
      ),
    ).toMatchObject({
      message: 'A JSON web token could not be decoded',
    });
    expect(await refusal(jwt({ iat: now - 30, exp: now + 540, iss: '999' }))).toMatchObject({
      message: 'A JSON web token could not be decoded',
    });
    expect(await refusal(jwt({ iat: now, exp: now + 3_600, iss: 12345 }))).toMatchObject({
      message: "'Expiration time' claim ('exp') is too far in the future",
    });
    expect(await refusal(jwt({ iat: now - 700, exp: now - 100, iss: 12345 }))).toMatchObject({
      message: expect.stringMatching(/^'Expiration time' claim \('exp'\) must be a numeric value/),
    });
    const good = jwt({ iat: now - 30, exp: now + 540, iss: 12345 });
    expect(
      (await httpError(at(good).rest.apps.createInstallationAccessToken({ installation_id: 7 }))).status,
    ).toBe(404);
    // A regenerated key: the old private key's JWTs stop working.
    ghes.setAppPublicKey(
      generateKeyPairSync('rsa', { modulusLength: 2048 })
        .publicKey.export({ type: 'spki', format: 'pem' })
        .toString(),
    );
    expect(await refusal(good)).toMatchObject({ message: 'A JSON web token could not be decoded' });
  });

  it('revokes installation tokens early, as a permission change does', async () => {
    const now = Math.floor(Date.now() / 1000);
    const res = await at(
      jwt({ iat: now - 30, exp: now + 540, iss: 12345 }),
    ).rest.apps.createInstallationAccessToken({
      installation_id: 42,
    });
    ghes.revokeInstallationTokens();
    expect((await httpError(at(res.data.token).rest.repos.get(REPO))).status).toBe(401);
    expect(ghes.installationTokens).toEqual([
      { token: res.data.token, expiresAt: expect.any(Number), revoked: true },
    ]);
  });
});
