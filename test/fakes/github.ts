import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GitHubAppFake, type GitHubAppOptions, type IssuedToken, JWT_UNDECODABLE } from './github-app.js';
import {
  HttpError,
  isRecord,
  parseJson,
  pollUntil,
  readBody,
  sendEmpty,
  sendJson,
  sendText,
  startServer,
} from './http-server.js';

/**
 * A local fake of the GitHub REST API (https://docs.github.com/rest): a real HTTP server with repositories,
 * branches, commits, issues and pull requests in memory. Point Octokit at `url` via `baseUrl`.
 */

export interface StartGitHubFakeOptions {
  token?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  /** The login the token acts as, shown as the author of issues and comments. */
  login?: string | undefined;
  /** Speak the GitHub App flow: an RS256 JWT of this app buys installation tokens that expire. */
  app?: GitHubAppOptions | undefined;
  /**
   * Serve the REST API under a prefix, as GitHub Enterprise Server does under `/api/v3`
   * (https://docs.github.com/en/enterprise-server@latest/rest/quickstart); `url` includes it.
   */
  pathPrefix?: string | undefined;
}

export interface GitHubRequestRecord {
  method: string;
  /** Decoded path without the query string, e.g. `/repos/acme/ops/contents/a/b.json`. */
  path: string;
  query: Record<string, string>;
  status: number;
  at: number;
  body: unknown;
}

export interface GitHubCommitSummary {
  sha: string;
  message: string;
  /** The file the commit wrote (Contents API commits touch one file). */
  path: string;
  at: number;
}

export interface GitHubComment {
  id: number;
  body: string;
  user: string;
  created_at: string;
}

export interface GitHubIssue {
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  state_reason: string | null;
  labels: string[];
  assignees: string[];
  comments: GitHubComment[];
}

export interface CreateRepoOptions {
  defaultBranch?: string;
  /** Seeds an initial commit; without it the repository is empty, as a new repository without a README is. */
  files?: Record<string, string>;
}

export interface AddPullRequestInput {
  number: number;
  headSha: string;
  headRef: string;
  baseRef?: string;
  title?: string;
  state?: 'open' | 'closed';
  merged?: boolean;
}

export interface GitHubFault {
  status: 500 | 502 | 503 | 429 | 403;
  /** The fault lasts this long from now; combined with `times`, whichever ends first. */
  durationMs?: number;
  /** The fault answers this many requests; with neither limit it lasts until clearFaults(). */
  times?: number;
  /** For 429/403: the `retry-after` header (default 1). */
  retryAfterSeconds?: number;
  /** Only requests whose decoded path matches. */
  path?: RegExp;
}

export interface GitHubFake {
  /** Base URL without a trailing slash, for Octokit's `baseUrl`. */
  readonly url: string;
  readonly requests: readonly GitHubRequestRecord[];
  /** Installation tokens handed out so far (App flow only), oldest first. */
  readonly installationTokens: readonly IssuedToken[];
  /** Revokes every installation token, as GitHub does when an installation's permissions change. */
  revokeInstallationTokens(): void;
  /** Replaces the app's public key: JWTs signed with the old private key are refused (401). */
  setAppPublicKey(publicKey: string): void;
  /** Installation tokens issued from now on live this long. */
  setInstallationTokenTtl(ms: number): void;
  createRepo(fullName: string, opts?: CreateRepoOptions): void;
  createBranch(fullName: string, branch: string, fromBranch?: string): void;
  files(fullName: string, branch?: string): Record<string, string>;
  /** Newest first. */
  commits(fullName: string, branch?: string): GitHubCommitSummary[];
  /** Issues only; pull requests share the numbering but are left out, as in GitHub's UI. */
  issues(fullName: string): GitHubIssue[];
  addPullRequest(fullName: string, pr: AddPullRequestInput): void;
  pullComments(fullName: string, number: number): GitHubComment[];
  failFor(fault: GitHubFault): void;
  clearFaults(): void;
  waitFor<T>(fn: () => T | undefined | null | false, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

const DOCS = 'https://docs.github.com/rest';
const CONTENTS_DOCS = `${DOCS}/repos/contents#create-or-update-file-contents`;
const ISSUES_DOCS = `${DOCS}/issues/issues#create-an-issue`;
const RATE_LIMIT_DOCS = `${DOCS}/using-the-rest-api/rate-limits-for-the-rest-api`;
const RATE_LIMIT = 5000;
const WEB = 'https://github.com';

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

function fail(status: number, message: string, documentationUrl = DOCS): HttpError {
  return new HttpError(
    status,
    { message, documentation_url: documentationUrl, status: String(status) },
    message,
  );
}

function notSupplied(field: string, docs: string): HttpError {
  return fail(422, `Invalid request.\n\n"${field}" wasn't supplied.`, docs);
}

/** Issue and comment bodies: GitHub answers 422 past 65,536 characters; titles past 256. */
const BODY_MAX = 65_536;
const TITLE_MAX = 256;

/** GitHub's refusal of an over-long field: 422 Validation Failed, `<field> is too long (maximum is N characters)`. */
function tooLong(resource: 'Issue' | 'IssueComment', field: string, max: number, docs: string): HttpError {
  return new HttpError(
    422,
    {
      message: 'Validation Failed',
      errors: [
        { resource, code: 'custom', field, message: `${field} is too long (maximum is ${max} characters)` },
      ],
      documentation_url: docs,
      status: '422',
    },
    `${field} is too long`,
  );
}

function checkBodyLength(body: unknown, resource: 'Issue' | 'IssueComment', docs: string): void {
  if (typeof body === 'string' && [...body].length > BODY_MAX)
    throw tooLong(resource, 'body', BODY_MAX, docs);
}

/** Git's blob id: sha1 of `blob <size>\0<content>`. */
export function gitBlobSha(content: Buffer | string): string {
  const buf = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  return createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');
}

function randomSha(): string {
  return createHash('sha1').update(randomBytes(20)).digest('hex');
}

/** GitHub wraps base64 content at 60 characters per line. */
function wrappedBase64(buf: Buffer): string {
  const b64 = buf.toString('base64');
  return `${b64.match(/.{1,60}/g)?.join('\n') ?? ''}\n`;
}

interface Commit {
  sha: string;
  message: string;
  path: string;
  at: number;
  parent: string | undefined;
  tree: Map<string, Buffer>;
  /** The tree object the commit was made from (Git data API); Contents API commits derive one. */
  treeSha?: string;
  author: { name: string; email: string; date: string };
  committer: { name: string; email: string; date: string };
}

interface PullInfo {
  headSha: string;
  headRef: string;
  baseRef: string;
  merged: boolean;
  /** Opened through the API: its head follows the head branch, as GitHub's does. */
  tracksBranch?: boolean;
}

interface IssueRecord {
  id: number;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  state_reason: string | null;
  labels: string[];
  assignees: string[];
  comments: GitHubComment[];
  user: string;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  pull: PullInfo | undefined;
}

interface Repo {
  id: number;
  owner: string;
  name: string;
  defaultBranch: string;
  /** Branch name → head commit sha; undefined while the repository is empty. */
  branches: Map<string, string | undefined>;
  commits: Map<string, Commit>;
  issues: Map<number, IssueRecord>;
  labels: Map<string, { id: number; name: string; color: string }>;
  nextNumber: number;
  /** Git data API objects: blobs by sha, and trees (flattened to path → content) by sha. */
  blobs: Map<string, Buffer>;
  trees: Map<string, Map<string, Buffer>>;
}

/** The tree sha a commit shows: the one it was made from, or one derived from the commit. */
function treeShaOf(c: Pick<Commit, 'sha' | 'treeSha'>): string {
  return c.treeSha ?? createHash('sha1').update(`tree ${c.sha}`).digest('hex');
}

/** GitHub's 422 "Validation Failed" with one error: `{resource, field, code}` or a custom message. */
function validation(
  resource: string,
  field: string | undefined,
  code: string,
  docs: string,
  message?: string,
): HttpError {
  const error = { resource, code, ...(field ? { field } : {}), ...(message ? { message } : {}) };
  return new HttpError(
    422,
    { message: 'Validation Failed', errors: [error], documentation_url: docs, status: '422' },
    message ?? `${resource}.${field ?? ''} ${code}`,
  );
}

function fullNameOf(repo: Repo): string {
  return `${repo.owner}/${repo.name}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Request facts a route handler needs. */
interface Ctx {
  method: string;
  /** Decoded, for fault matching and the request log. */
  path: string;
  /** As sent; routes match on it so an encoded '/' inside a parameter stays inside it. */
  rawPath: string;
  query: URLSearchParams;
  body: unknown;
}

type RouteHandler = (ctx: Ctx, params: string[]) => Answer;

interface Route {
  method: string;
  pattern: RegExp;
  handle: RouteHandler;
}

const REPO = '/repos/([^/]+)/([^/]+)';

/** The in-memory GitHub and the REST routes over it. */
class GitHubState {
  private readonly repos = new Map<string, Repo>();
  private nextId = 1000;

  constructor(
    private readonly baseUrl: () => string,
    private readonly login: string,
    private readonly token: string,
  ) {}

  readonly routes: readonly Route[] = [
    { method: 'GET', pattern: /^\/$/, handle: () => ({ status: 200, body: this.meta() }) },
    { method: 'GET', pattern: new RegExp(`^${REPO}$`), handle: (_c, p) => this.getRepo(p) },
    {
      method: 'GET',
      pattern: new RegExp(`^${REPO}/contents(?:/(.*))?$`),
      handle: (c, p) => this.getContents(c, p),
    },
    {
      method: 'PUT',
      pattern: new RegExp(`^${REPO}/contents/(.+)$`),
      handle: (c, p) => this.putContents(c, p),
    },
    { method: 'GET', pattern: new RegExp(`^${REPO}/commits$`), handle: (c, p) => this.listCommits(c, p) },
    { method: 'GET', pattern: new RegExp(`^${REPO}/commits/([^/]+)$`), handle: (_c, p) => this.getCommit(p) },
    { method: 'GET', pattern: new RegExp(`^${REPO}/branches/(.+)$`), handle: (_c, p) => this.getBranch(p) },
    { method: 'POST', pattern: new RegExp(`^${REPO}/issues$`), handle: (c, p) => this.createIssue(c, p) },
    { method: 'GET', pattern: new RegExp(`^${REPO}/issues$`), handle: (c, p) => this.listIssues(c, p) },
    { method: 'GET', pattern: new RegExp(`^${REPO}/issues/(\\d+)$`), handle: (_c, p) => this.getIssue(p) },
    {
      method: 'PATCH',
      pattern: new RegExp(`^${REPO}/issues/(\\d+)$`),
      handle: (c, p) => this.updateIssue(c, p),
    },
    {
      method: 'POST',
      pattern: new RegExp(`^${REPO}/issues/(\\d+)/comments$`),
      handle: (c, p) => this.addComment(c, p),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^${REPO}/issues/(\\d+)/comments$`),
      handle: (c, p) => this.listComments(c, p),
    },
    {
      method: 'POST',
      pattern: new RegExp(`^${REPO}/issues/(\\d+)/labels$`),
      handle: (c, p) => this.addLabels(c, p),
    },
    {
      method: 'PUT',
      pattern: new RegExp(`^${REPO}/issues/(\\d+)/labels$`),
      handle: (c, p) => this.setLabels(c, p),
    },
    {
      method: 'DELETE',
      pattern: new RegExp(`^${REPO}/issues/(\\d+)/labels$`),
      handle: (_c, p) => this.clearLabels(p),
    },
    {
      method: 'DELETE',
      pattern: new RegExp(`^${REPO}/issues/(\\d+)/labels/(.+)$`),
      handle: (_c, p) => this.removeLabel(p),
    },
    { method: 'GET', pattern: new RegExp(`^${REPO}/pulls/(\\d+)$`), handle: (_c, p) => this.getPull(p) },
    {
      method: 'PATCH',
      pattern: new RegExp(`^${REPO}/pulls/(\\d+)$`),
      handle: (c, p) => this.updatePull(c, p),
    },
    { method: 'GET', pattern: new RegExp(`^${REPO}/pulls$`), handle: (c, p) => this.listPulls(c, p) },
    { method: 'POST', pattern: new RegExp(`^${REPO}/pulls$`), handle: (c, p) => this.createPull(c, p) },
    { method: 'POST', pattern: new RegExp(`^${REPO}/git/blobs$`), handle: (c, p) => this.createBlob(c, p) },
    { method: 'POST', pattern: new RegExp(`^${REPO}/git/trees$`), handle: (c, p) => this.createTree(c, p) },
    {
      method: 'POST',
      pattern: new RegExp(`^${REPO}/git/commits$`),
      handle: (c, p) => this.createGitCommit(c, p),
    },
    { method: 'GET', pattern: new RegExp(`^${REPO}/git/ref/(.+)$`), handle: (_c, p) => this.getRef(p) },
    { method: 'POST', pattern: new RegExp(`^${REPO}/git/refs$`), handle: (c, p) => this.createRef(c, p) },
    {
      method: 'PATCH',
      pattern: new RegExp(`^${REPO}/git/refs/(.+)$`),
      handle: (c, p) => this.updateRef(c, p),
    },
  ];

  // ---- state API -------------------------------------------------------------------------------

  createRepo(fullName: string, opts: CreateRepoOptions = {}): void {
    const [owner, name] = fullName.split('/');
    if (!owner || !name) throw new Error(`repository name must be "owner/name", got "${fullName}"`);
    const defaultBranch = opts.defaultBranch ?? 'main';
    const repo: Repo = {
      id: this.nextId++,
      owner,
      name,
      defaultBranch,
      branches: new Map([[defaultBranch, undefined]]),
      commits: new Map(),
      issues: new Map(),
      labels: new Map(),
      nextNumber: 1,
      blobs: new Map(),
      trees: new Map(),
    };
    this.repos.set(fullName.toLowerCase(), repo);
    if (opts.files && Object.keys(opts.files).length > 0) this.seedCommit(repo, opts.files);
  }

  private seedCommit(repo: Repo, files: Record<string, string>): void {
    const tree = new Map(Object.entries(files).map(([path, text]) => [path, Buffer.from(text, 'utf8')]));
    const commit = this.newCommit('Initial commit', Object.keys(files)[0] ?? '', undefined, tree, undefined);
    repo.commits.set(commit.sha, commit);
    repo.branches.set(repo.defaultBranch, commit.sha);
  }

  createBranch(fullName: string, branch: string, fromBranch?: string): void {
    const repo = this.mustRepo(fullName);
    const from = fromBranch ?? repo.defaultBranch;
    if (!repo.branches.has(from)) throw new Error(`no branch ${from} in ${fullName}`);
    repo.branches.set(branch, repo.branches.get(from));
  }

  files(fullName: string, branch?: string): Record<string, string> {
    const repo = this.mustRepo(fullName);
    const head = this.mustBranchHead(repo, branch ?? repo.defaultBranch);
    const tree = head === undefined ? new Map<string, Buffer>() : this.mustCommit(repo, head).tree;
    return Object.fromEntries([...tree].map(([path, buf]) => [path, buf.toString('utf8')]));
  }

  commits(fullName: string, branch?: string): GitHubCommitSummary[] {
    const repo = this.mustRepo(fullName);
    const head = this.mustBranchHead(repo, branch ?? repo.defaultBranch);
    return this.history(repo, head).map((c) => ({ sha: c.sha, message: c.message, path: c.path, at: c.at }));
  }

  issues(fullName: string): GitHubIssue[] {
    const repo = this.mustRepo(fullName);
    return [...repo.issues.values()].filter((i) => i.pull === undefined).map(toIssueState);
  }

  addPullRequest(fullName: string, pr: AddPullRequestInput): void {
    const repo = this.mustRepo(fullName);
    if (repo.issues.has(pr.number)) throw new Error(`#${pr.number} already exists in ${fullName}`);
    const now = iso(Date.now());
    const state = pr.state ?? 'open';
    repo.issues.set(pr.number, {
      id: this.nextId++,
      number: pr.number,
      title: pr.title ?? `Pull request #${pr.number}`,
      body: null,
      state,
      state_reason: null,
      labels: [],
      assignees: [],
      comments: [],
      user: 'octocat',
      created_at: now,
      updated_at: now,
      closed_at: state === 'closed' ? now : null,
      pull: {
        headSha: pr.headSha,
        headRef: pr.headRef,
        baseRef: pr.baseRef ?? repo.defaultBranch,
        merged: !!pr.merged,
      },
    });
    repo.nextNumber = Math.max(repo.nextNumber, pr.number + 1);
  }

  pullComments(fullName: string, number: number): GitHubComment[] {
    const issue = this.mustRepo(fullName).issues.get(number);
    if (!issue?.pull) throw new Error(`no pull request #${number} in ${fullName}`);
    return issue.comments.map((c) => ({ ...c }));
  }

  private mustRepo(fullName: string): Repo {
    const repo = this.repos.get(fullName.toLowerCase());
    if (!repo) throw new Error(`no repository ${fullName}; call createRepo first`);
    return repo;
  }

  private mustBranchHead(repo: Repo, branch: string): string | undefined {
    if (!repo.branches.has(branch)) throw new Error(`no branch ${branch} in ${fullNameOf(repo)}`);
    return repo.branches.get(branch);
  }

  private mustCommit(repo: Repo, sha: string): Commit {
    const commit = repo.commits.get(sha);
    if (!commit) throw new Error(`missing commit ${sha}`);
    return commit;
  }

  /** Commits reachable from `head`, newest first. */
  private history(repo: Repo, head: string | undefined): Commit[] {
    const out: Commit[] = [];
    for (let sha = head; sha !== undefined; ) {
      const commit = this.mustCommit(repo, sha);
      out.push(commit);
      sha = commit.parent;
    }
    return out;
  }

  // ---- shared REST helpers ---------------------------------------------------------------------

  private repo(params: string[]): Repo {
    const repo = this.repos.get(`${params[0] ?? ''}/${params[1] ?? ''}`.toLowerCase());
    if (!repo) throw fail(404, 'Not Found');
    return repo;
  }

  private issue(repo: Repo, numberText: string | undefined): IssueRecord {
    const issue = repo.issues.get(Number(numberText));
    if (!issue) throw fail(404, 'Not Found');
    return issue;
  }

  private api(path: string): string {
    return `${this.baseUrl()}${path}`;
  }

  private userView(login: string): Record<string, unknown> {
    const isBot = login.endsWith('[bot]');
    return {
      login,
      id: isBot ? 41898282 : 583231,
      type: isBot ? 'Bot' : 'User',
      site_admin: false,
      url: this.api(`/users/${encodeURIComponent(login)}`),
      html_url: `${WEB}/${login.replace(/\[bot\]$/, '')}`,
    };
  }

  /** Slices one page and builds GitHub's `Link` header (rel next/last/first/prev) with absolute URLs. */
  private page<T>(items: T[], ctx: Ctx): Answer & { body: T[] } {
    const perPage = Math.min(Math.max(Number(ctx.query.get('per_page')) || 30, 1), 100);
    const page = Math.max(Number(ctx.query.get('page')) || 1, 1);
    const last = Math.max(Math.ceil(items.length / perPage), 1);
    const linkTo = (n: number): string => {
      const q = new URLSearchParams(ctx.query);
      q.set('per_page', String(perPage));
      q.set('page', String(n));
      return this.api(`${encodePath(ctx.path)}?${q}`);
    };
    const links: string[] = [];
    if (page < last) links.push(`<${linkTo(page + 1)}>; rel="next"`, `<${linkTo(last)}>; rel="last"`);
    if (page > 1) links.push(`<${linkTo(1)}>; rel="first"`, `<${linkTo(page - 1)}>; rel="prev"`);
    const body = items.slice((page - 1) * perPage, page * perPage);
    return { status: 200, body, ...(links.length > 0 ? { headers: { link: links.join(', ') } } : {}) };
  }

  // ---- meta, repos, branches ---------------------------------------------------------------------

  private meta(): Record<string, unknown> {
    return {
      current_user_url: this.api('/user'),
      repository_url: this.api('/repos/{owner}/{repo}'),
      issues_url: this.api('/issues'),
      rate_limit_url: this.api('/rate_limit'),
    };
  }

  private getRepo(params: string[]): Answer {
    const repo = this.repo(params);
    return { status: 200, body: this.repoView(repo) };
  }

  private repoView(repo: Repo): Record<string, unknown> {
    const fullName = fullNameOf(repo);
    return {
      id: repo.id,
      name: repo.name,
      full_name: fullName,
      private: true,
      owner: this.userView(repo.owner),
      html_url: `${WEB}/${fullName}`,
      url: this.api(`/repos/${fullName}`),
      default_branch: repo.defaultBranch,
      permissions: { admin: false, push: true, pull: true },
    };
  }

  private getBranch(params: string[]): Answer {
    const repo = this.repo(params);
    const name = decodeURIComponent(params[2] ?? '');
    const head = repo.branches.get(name);
    if (head === undefined) throw fail(404, 'Branch not found', `${DOCS}/branches/branches#get-a-branch`);
    const fullName = fullNameOf(repo);
    return {
      status: 200,
      body: {
        name,
        commit: this.commitView(repo, this.mustCommit(repo, head)),
        protected: false,
        _links: {
          self: this.api(`/repos/${fullName}/branches/${name}`),
          html: `${WEB}/${fullName}/tree/${name}`,
        },
      },
    };
  }

  /** A ref is a branch name (optionally `heads/` or `refs/heads/` prefixed) or a commit sha (7+ hex chars). */
  private resolveRef(repo: Repo, ref: string): { sha: string | undefined } | undefined {
    const branch = ref.replace(/^(refs\/)?heads\//, '');
    if (repo.branches.has(branch)) return { sha: repo.branches.get(branch) };
    if (/^[0-9a-f]{7,40}$/.test(ref)) {
      const sha = [...repo.commits.keys()].find((s) => s.startsWith(ref));
      if (sha) return { sha };
    }
    return undefined;
  }

  // ---- contents ----------------------------------------------------------------------------------

  private getContents(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const path = decodeURIComponent(params[2] ?? '').replace(/^\/+|\/+$/g, '');
    const ref = ctx.query.get('ref') ?? repo.defaultBranch;
    const resolved = this.resolveRef(repo, ref);
    if (!resolved)
      throw fail(404, `No commit found for the ref ${ref}`, `${DOCS}/repos/contents#get-repository-content`);
    if (resolved.sha === undefined) throw fail(404, 'This repository is empty.');
    const tree = this.mustCommit(repo, resolved.sha).tree;
    const file = tree.get(path);
    if (file) {
      return {
        status: 200,
        body: { ...this.entryView(repo, ref, path, file), encoding: 'base64', content: wrappedBase64(file) },
      };
    }
    const prefix = path === '' ? '' : `${path}/`;
    const children = new Map<string, Buffer | undefined>();
    for (const [p, buf] of tree) {
      if (!p.startsWith(prefix)) continue;
      const [first, ...rest] = p.slice(prefix.length).split('/');
      if (first !== undefined) children.set(first, rest.length > 0 ? undefined : buf);
    }
    if (children.size === 0) throw fail(404, 'Not Found', `${DOCS}/repos/contents#get-repository-content`);
    const entries = [...children]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, buf]) => this.entryView(repo, ref, `${prefix}${name}`, buf));
    return { status: 200, body: entries };
  }

  /** One Contents API entry; a directory has no buffer. */
  private entryView(
    repo: Repo,
    ref: string,
    path: string,
    file: Buffer | undefined,
  ): Record<string, unknown> {
    const fullName = fullNameOf(repo);
    const sha = file ? gitBlobSha(file) : createHash('sha1').update(`tree ${path}`).digest('hex');
    const kind = file ? 'blob' : 'tree';
    const self = this.api(`/repos/${fullName}/contents/${encodePath(path)}?ref=${encodeURIComponent(ref)}`);
    const git = this.api(`/repos/${fullName}/git/${kind}s/${sha}`);
    const html = `${WEB}/${fullName}/${kind}/${ref}/${encodePath(path)}`;
    return {
      type: file ? 'file' : 'dir',
      name: path.split('/').pop() ?? path,
      path,
      sha,
      size: file?.length ?? 0,
      url: self,
      html_url: html,
      git_url: git,
      download_url: file ? `https://raw.githubusercontent.com/${fullName}/${ref}/${encodePath(path)}` : null,
      _links: { self, git, html },
    };
  }

  private putContents(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const path = decodeURIComponent(params[2] ?? '').replace(/^\/+|\/+$/g, '');
    const body = isRecord(ctx.body) ? ctx.body : {};
    const message = body.message;
    const content = body.content;
    if (typeof message !== 'string' || message === '') throw notSupplied('message', CONTENTS_DOCS);
    if (typeof content !== 'string') throw notSupplied('content', CONTENTS_DOCS);
    if (!/^[A-Za-z0-9+/=\s]*$/.test(content)) throw fail(422, 'content is not valid Base64', CONTENTS_DOCS);
    const branch = typeof body.branch === 'string' ? body.branch : repo.defaultBranch;
    if (!repo.branches.has(branch)) throw fail(404, `Branch ${branch} not found`, CONTENTS_DOCS);
    const head = repo.branches.get(branch);
    const parentTree = head === undefined ? new Map<string, Buffer>() : this.mustCommit(repo, head).tree;
    const existing = parentTree.get(path);
    this.checkSha(path, existing, body.sha);
    const data = Buffer.from(content, 'base64');
    const tree = new Map(parentTree).set(path, data);
    const commit = this.newCommit(message, path, head, tree, body);
    repo.commits.set(commit.sha, commit);
    repo.branches.set(branch, commit.sha);
    const { url, html_url, git_url, download_url, _links, ...rest } = this.entryView(
      repo,
      branch,
      path,
      data,
    );
    return {
      status: existing ? 200 : 201,
      body: {
        content: { ...rest, url, html_url, git_url, download_url, _links },
        commit: this.gitCommitView(repo, commit),
      },
    };
  }

  /** Optimistic concurrency: updating needs the current blob sha, and a stale one conflicts. */
  private checkSha(path: string, existing: Buffer | undefined, sha: unknown): void {
    const given = typeof sha === 'string' && sha !== '' ? sha : undefined;
    if (existing && given === undefined) throw notSupplied('sha', CONTENTS_DOCS);
    if (given !== undefined && (!existing || gitBlobSha(existing) !== given)) {
      throw fail(409, `${path} does not match ${given}`, CONTENTS_DOCS);
    }
  }

  private newCommit(
    message: string,
    path: string,
    parent: string | undefined,
    tree: Map<string, Buffer>,
    body: Record<string, unknown> | undefined,
  ): Commit {
    const at = Date.now();
    const date = iso(at);
    const fallback = {
      name: this.login,
      email: `${this.login.replace(/\[bot\]$/, '')}@users.noreply.github.com`,
    };
    const person = (value: unknown): { name: string; email: string; date: string } => {
      const v = isRecord(value) ? value : {};
      return {
        name: typeof v.name === 'string' ? v.name : fallback.name,
        email: typeof v.email === 'string' ? v.email : fallback.email,
        date: typeof v.date === 'string' ? v.date : date,
      };
    };
    const committer = person(body?.committer);
    const author = body?.author === undefined ? committer : person(body.author);
    return { sha: randomSha(), message, path, at, parent, tree, author, committer };
  }

  /** The `commit` object of the Git data API (also in Contents PUT answers). */
  private gitCommitView(repo: Repo, c: Commit): Record<string, unknown> {
    const fullName = fullNameOf(repo);
    return {
      sha: c.sha,
      node_id: `C_${c.sha.slice(0, 20)}`,
      url: this.api(`/repos/${fullName}/git/commits/${c.sha}`),
      html_url: `${WEB}/${fullName}/commit/${c.sha}`,
      author: c.author,
      committer: c.committer,
      message: c.message,
      tree: { sha: treeShaOf(c) },
      parents:
        c.parent === undefined ? [] : [{ sha: c.parent, html_url: `${WEB}/${fullName}/commit/${c.parent}` }],
      verification: {
        verified: false,
        reason: 'unsigned',
        signature: null,
        payload: null,
        verified_at: null,
      },
    };
  }

  /** The object of the Commits API (list and get). */
  private commitView(repo: Repo, c: Commit): Record<string, unknown> {
    const fullName = fullNameOf(repo);
    const git = this.gitCommitView(repo, c);
    return {
      sha: c.sha,
      node_id: git.node_id,
      commit: {
        author: c.author,
        committer: c.committer,
        message: c.message,
        tree: git.tree,
        url: git.url,
        comment_count: 0,
        verification: git.verification,
      },
      url: this.api(`/repos/${fullName}/commits/${c.sha}`),
      html_url: git.html_url,
      author: null,
      committer: null,
      parents: git.parents,
    };
  }

  private listCommits(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const ref = ctx.query.get('sha') ?? repo.defaultBranch;
    const resolved = this.resolveRef(repo, ref);
    if (!resolved) throw fail(404, `No commit found for SHA: ${ref}`, `${DOCS}/commits/commits#list-commits`);
    if (resolved.sha === undefined)
      throw fail(409, 'Git Repository is empty.', `${DOCS}/commits/commits#list-commits`);
    const path = ctx.query.get('path');
    const commits = this.history(repo, resolved.sha).filter(
      (c) => !path || c.path === path || c.path.startsWith(`${path}/`),
    );
    const page = this.page(commits, ctx);
    return { ...page, body: page.body.map((c) => this.commitView(repo, c)) };
  }

  private getCommit(params: string[]): Answer {
    const repo = this.repo(params);
    const ref = decodeURIComponent(params[2] ?? '');
    const sha = this.resolveRef(repo, ref)?.sha;
    if (sha === undefined)
      throw fail(422, `No commit found for SHA: ${ref}`, `${DOCS}/commits/commits#get-a-commit`);
    const commit = this.mustCommit(repo, sha);
    const before = commit.parent === undefined ? undefined : this.mustCommit(repo, commit.parent).tree;
    const status = before?.has(commit.path) ? 'modified' : 'added';
    return {
      status: 200,
      body: { ...this.commitView(repo, commit), files: [{ filename: commit.path, status }] },
    };
  }

  // ---- issues ------------------------------------------------------------------------------------

  private labelView(repo: Repo, name: string): Record<string, unknown> {
    const label = this.ensureLabel(repo, name);
    return {
      id: label.id,
      node_id: `LA_${label.id}`,
      url: this.api(`/repos/${fullNameOf(repo)}/labels/${encodeURIComponent(name)}`),
      name,
      color: label.color,
      default: false,
      description: null,
    };
  }

  /** Labels are created on first use, as GitHub does for users with push access. */
  private ensureLabel(repo: Repo, name: string): { id: number; name: string; color: string } {
    let label = repo.labels.get(name);
    if (!label) {
      label = { id: this.nextId++, name, color: createHash('sha1').update(name).digest('hex').slice(0, 6) };
      repo.labels.set(name, label);
    }
    return label;
  }

  private issueView(repo: Repo, i: IssueRecord): Record<string, unknown> {
    const fullName = fullNameOf(repo);
    const apiUrl = this.api(`/repos/${fullName}/issues/${i.number}`);
    const htmlUrl = `${WEB}/${fullName}/${i.pull ? 'pull' : 'issues'}/${i.number}`;
    return {
      url: apiUrl,
      repository_url: this.api(`/repos/${fullName}`),
      labels_url: `${apiUrl}/labels{/name}`,
      comments_url: `${apiUrl}/comments`,
      events_url: `${apiUrl}/events`,
      html_url: htmlUrl,
      id: i.id,
      node_id: `I_${i.id}`,
      number: i.number,
      title: i.title,
      user: this.userView(i.user),
      labels: i.labels.map((name) => this.labelView(repo, name)),
      state: i.state,
      state_reason: i.state_reason,
      locked: false,
      assignee: i.assignees[0] === undefined ? null : this.userView(i.assignees[0]),
      assignees: i.assignees.map((login) => this.userView(login)),
      milestone: null,
      comments: i.comments.length,
      created_at: i.created_at,
      updated_at: i.updated_at,
      closed_at: i.closed_at,
      author_association: 'NONE',
      body: i.body,
      ...(i.pull
        ? { pull_request: { url: this.api(`/repos/${fullName}/pulls/${i.number}`), html_url: htmlUrl } }
        : {}),
    };
  }

  private createIssue(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const body = isRecord(ctx.body) ? ctx.body : {};
    if (typeof body.title !== 'string' && typeof body.title !== 'number')
      throw notSupplied('title', ISSUES_DOCS);
    checkBodyLength(body.body, 'Issue', ISSUES_DOCS);
    if ([...String(body.title)].length > TITLE_MAX) throw tooLong('Issue', 'title', TITLE_MAX, ISSUES_DOCS);
    const now = iso(Date.now());
    const issue: IssueRecord = {
      id: this.nextId++,
      number: repo.nextNumber++,
      title: String(body.title),
      body: typeof body.body === 'string' ? body.body : null,
      state: 'open',
      state_reason: null,
      labels: labelNames(body.labels),
      assignees: assigneeLogins(body),
      comments: [],
      user: this.login,
      created_at: now,
      updated_at: now,
      closed_at: null,
      pull: undefined,
    };
    repo.issues.set(issue.number, issue);
    return { status: 201, body: this.issueView(repo, issue) };
  }

  private listIssues(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const state = ctx.query.get('state') ?? 'open';
    const wanted = (ctx.query.get('labels') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const since = ctx.query.get('since');
    const byCreated = (ctx.query.get('sort') ?? 'created') === 'created';
    const ascending = ctx.query.get('direction') === 'asc';
    const matching = [...repo.issues.values()]
      .filter((i) => state === 'all' || i.state === state)
      .filter((i) => wanted.every((l) => i.labels.includes(l)))
      .filter((i) => !since || i.updated_at >= since)
      .sort((a, b) => {
        const order = byCreated
          ? a.number - b.number
          : a.updated_at.localeCompare(b.updated_at) || a.number - b.number;
        return ascending ? order : -order;
      });
    const page = this.page(matching, ctx);
    return { ...page, body: page.body.map((i) => this.issueView(repo, i)) };
  }

  private getIssue(params: string[]): Answer {
    const repo = this.repo(params);
    return { status: 200, body: this.issueView(repo, this.issue(repo, params[2])) };
  }

  private updateIssue(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const issue = this.issue(repo, params[2]);
    const body = isRecord(ctx.body) ? ctx.body : {};
    checkBodyLength(body.body, 'Issue', `${DOCS}/issues/issues#update-an-issue`);
    if (typeof body.title === 'string') issue.title = body.title;
    if (typeof body.body === 'string' || body.body === null) issue.body = body.body;
    if (body.labels !== undefined) issue.labels = labelNames(body.labels);
    if (body.assignees !== undefined) issue.assignees = assigneeLogins(body);
    if (body.state !== undefined) this.setState(issue, body.state, body.state_reason);
    issue.updated_at = iso(Date.now());
    return { status: 200, body: this.issueView(repo, issue) };
  }

  private setState(issue: IssueRecord, state: unknown, reason: unknown): void {
    if (state !== 'open' && state !== 'closed') {
      throw fail(422, 'Validation Failed', `${DOCS}/issues/issues#update-an-issue`);
    }
    const wasClosed = issue.state === 'closed';
    issue.state = state;
    if (state === 'closed') {
      issue.state_reason = typeof reason === 'string' ? reason : 'completed';
      issue.closed_at = wasClosed ? issue.closed_at : iso(Date.now());
    } else {
      issue.state_reason = wasClosed ? 'reopened' : issue.state_reason;
      issue.closed_at = null;
    }
  }

  private commentView(repo: Repo, issue: IssueRecord, c: GitHubComment): Record<string, unknown> {
    const fullName = fullNameOf(repo);
    return {
      id: c.id,
      node_id: `IC_${c.id}`,
      url: this.api(`/repos/${fullName}/issues/comments/${c.id}`),
      html_url: `${WEB}/${fullName}/${issue.pull ? 'pull' : 'issues'}/${issue.number}#issuecomment-${c.id}`,
      issue_url: this.api(`/repos/${fullName}/issues/${issue.number}`),
      body: c.body,
      user: this.userView(c.user),
      created_at: c.created_at,
      updated_at: c.created_at,
      author_association: 'NONE',
    };
  }

  private addComment(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const issue = this.issue(repo, params[2]);
    const body = isRecord(ctx.body) ? ctx.body.body : undefined;
    if (typeof body !== 'string')
      throw notSupplied('body', `${DOCS}/issues/comments#create-an-issue-comment`);
    checkBodyLength(body, 'IssueComment', `${DOCS}/issues/comments#create-an-issue-comment`);
    const comment: GitHubComment = { id: this.nextId++, body, user: this.login, created_at: iso(Date.now()) };
    issue.comments.push(comment);
    issue.updated_at = comment.created_at;
    return { status: 201, body: this.commentView(repo, issue, comment) };
  }

  private listComments(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const issue = this.issue(repo, params[2]);
    const page = this.page(issue.comments, ctx);
    return { ...page, body: page.body.map((c) => this.commentView(repo, issue, c)) };
  }

  private labelsAnswer(repo: Repo, issue: IssueRecord): Answer {
    issue.updated_at = iso(Date.now());
    return { status: 200, body: issue.labels.map((name) => this.labelView(repo, name)) };
  }

  /** Octokit sends `{ labels: [...] }`; GitHub also accepts a bare array. */
  private labelsFromBody(body: unknown): string[] {
    return labelNames(isRecord(body) ? body.labels : body);
  }

  private addLabels(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const issue = this.issue(repo, params[2]);
    for (const name of this.labelsFromBody(ctx.body))
      if (!issue.labels.includes(name)) issue.labels.push(name);
    return this.labelsAnswer(repo, issue);
  }

  private setLabels(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const issue = this.issue(repo, params[2]);
    issue.labels = this.labelsFromBody(ctx.body);
    return this.labelsAnswer(repo, issue);
  }

  private clearLabels(params: string[]): Answer {
    const repo = this.repo(params);
    const issue = this.issue(repo, params[2]);
    issue.labels = [];
    issue.updated_at = iso(Date.now());
    return { status: 204 };
  }

  private removeLabel(params: string[]): Answer {
    const repo = this.repo(params);
    const issue = this.issue(repo, params[2]);
    const name = decodeURIComponent(params[3] ?? '');
    if (!issue.labels.includes(name)) {
      throw fail(404, 'Label does not exist', `${DOCS}/issues/labels#remove-a-label-from-an-issue`);
    }
    issue.labels = issue.labels.filter((l) => l !== name);
    return this.labelsAnswer(repo, issue);
  }

  // ---- pulls -------------------------------------------------------------------------------------

  private getPull(params: string[]): Answer {
    const repo = this.repo(params);
    const issue = repo.issues.get(Number(params[2]));
    if (!issue?.pull) throw fail(404, 'Not Found', `${DOCS}/pulls/pulls#get-a-pull-request`);
    return { status: 200, body: this.pullView(repo, issue, issue.pull) };
  }

  private pullView(repo: Repo, issue: IssueRecord, pull: PullInfo): Record<string, unknown> {
    const fullName = fullNameOf(repo);
    const repoView = this.repoView(repo);
    const baseSha = repo.branches.get(pull.baseRef) ?? null;
    return {
      url: this.api(`/repos/${fullName}/pulls/${issue.number}`),
      id: issue.id,
      node_id: `PR_${issue.id}`,
      html_url: `${WEB}/${fullName}/pull/${issue.number}`,
      number: issue.number,
      state: issue.state,
      locked: false,
      title: issue.title,
      user: this.userView(issue.user),
      body: issue.body,
      created_at: issue.created_at,
      updated_at: issue.updated_at,
      closed_at: issue.closed_at,
      merged_at: pull.merged ? issue.closed_at : null,
      merged: pull.merged,
      draft: false,
      comments: issue.comments.length,
      head: {
        label: `${repo.owner}:${pull.headRef}`,
        ref: pull.headRef,
        sha: (pull.tracksBranch ? repo.branches.get(pull.headRef) : undefined) ?? pull.headSha,
        repo: repoView,
      },
      base: {
        label: `${repo.owner}:${pull.baseRef}`,
        ref: pull.baseRef,
        sha: baseSha,
        repo: repoView,
      },
    };
  }

  // ---- pulls: create, list, update -----------------------------------------------------------------

  /** POST /repos/{o}/{r}/pulls (https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request). */
  private createPull(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const docs = `${DOCS}/pulls/pulls#create-a-pull-request`;
    const body = isRecord(ctx.body) ? ctx.body : {};
    if (typeof body.head !== 'string' || body.head === '') throw notSupplied('head', docs);
    if (typeof body.base !== 'string' || body.base === '') throw notSupplied('base', docs);
    // "title: Required unless issue is specified"; this fake does not convert issues.
    if (typeof body.title !== 'string' || body.title === '') throw notSupplied('title', docs);
    checkBodyLength(body.body, 'Issue', docs);
    // `head` may be "branch" or "owner:branch" for a branch of the same repository.
    const [headOwner, headRef] = body.head.includes(':') ? body.head.split(':', 2) : [repo.owner, body.head];
    if (headOwner?.toLowerCase() !== repo.owner.toLowerCase() || !headRef || !repo.branches.has(headRef))
      throw validation('PullRequest', 'head', 'invalid', docs);
    if (!repo.branches.has(body.base)) throw validation('PullRequest', 'base', 'invalid', docs);
    const headSha = repo.branches.get(headRef);
    const baseSha = repo.branches.get(body.base);
    // GitHub: 422 "A pull request already exists for owner:branch." while one is open for the same head and base.
    const open = [...repo.issues.values()].find(
      (i) => i.pull && i.state === 'open' && i.pull.headRef === headRef && i.pull.baseRef === body.base,
    );
    if (open)
      throw validation(
        'PullRequest',
        undefined,
        'custom',
        docs,
        `A pull request already exists for ${repo.owner}:${headRef}.`,
      );
    // GitHub: 422 "No commits between base and head" when the head adds nothing to the base.
    if (
      headSha === undefined ||
      (baseSha !== undefined && this.history(repo, baseSha).some((c) => c.sha === headSha))
    )
      throw validation(
        'PullRequest',
        undefined,
        'custom',
        docs,
        `No commits between ${body.base} and ${headRef}`,
      );
    const now = iso(Date.now());
    const issue: IssueRecord = {
      id: this.nextId++,
      number: repo.nextNumber++,
      title: body.title,
      body: typeof body.body === 'string' ? body.body : null,
      state: 'open',
      state_reason: null,
      labels: [],
      assignees: [],
      comments: [],
      user: this.login,
      created_at: now,
      updated_at: now,
      closed_at: null,
      pull: { headSha, headRef, baseRef: body.base, merged: false, tracksBranch: true },
    };
    repo.issues.set(issue.number, issue);
    return { status: 201, body: this.pullView(repo, issue, issue.pull as PullInfo) };
  }

  /** GET /repos/{o}/{r}/pulls: filters state (default open), head ("owner:branch") and base; paginated. */
  private listPulls(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const state = ctx.query.get('state') ?? 'open';
    if (!['open', 'closed', 'all'].includes(state))
      throw validation('PullRequest', 'state', 'invalid', `${DOCS}/pulls/pulls#list-pull-requests`);
    const head = ctx.query.get('head');
    const base = ctx.query.get('base');
    const pulls = [...repo.issues.values()]
      .filter((i) => i.pull !== undefined)
      .filter((i) => state === 'all' || i.state === state)
      .filter((i) => !head || `${repo.owner}:${i.pull?.headRef}`.toLowerCase() === head.toLowerCase())
      .filter((i) => !base || i.pull?.baseRef === base)
      // Default sort: created, descending.
      .sort((a, b) => b.number - a.number);
    const page = this.page(pulls, ctx);
    return { ...page, body: page.body.map((i) => this.pullView(repo, i, i.pull as PullInfo)) };
  }

  /** PATCH /repos/{o}/{r}/pulls/{n}: title, body, state, base (https://docs.github.com/en/rest/pulls/pulls#update-a-pull-request). */
  private updatePull(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const docs = `${DOCS}/pulls/pulls#update-a-pull-request`;
    const issue = repo.issues.get(Number(params[2]));
    if (!issue?.pull) throw fail(404, 'Not Found', docs);
    const body = isRecord(ctx.body) ? ctx.body : {};
    checkBodyLength(body.body, 'Issue', docs);
    if (typeof body.title === 'string') issue.title = body.title;
    if (typeof body.body === 'string' || body.body === null) issue.body = body.body;
    if (body.state !== undefined) this.setState(issue, body.state, undefined);
    if (typeof body.base === 'string') {
      if (!repo.branches.has(body.base)) throw validation('PullRequest', 'base', 'invalid', docs);
      issue.pull.baseRef = body.base;
    }
    issue.updated_at = iso(Date.now());
    return { status: 200, body: this.pullView(repo, issue, issue.pull) };
  }

  // ---- git data API: blobs, trees, commits, refs -------------------------------------------------

  /** Git objects cannot be written to an empty repository: 409 "Git Repository is empty." (git/blobs, git/trees docs). */
  private nonEmpty(repo: Repo, docs: string): void {
    if ([...repo.branches.values()].every((sha) => sha === undefined))
      throw fail(409, 'Git Repository is empty.', docs);
  }

  /** POST git/blobs: `content` required, `encoding` utf-8 (default) or base64 (https://docs.github.com/en/rest/git/blobs#create-a-blob). */
  private createBlob(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const docs = `${DOCS}/git/blobs#create-a-blob`;
    this.nonEmpty(repo, docs);
    const body = isRecord(ctx.body) ? ctx.body : {};
    if (typeof body.content !== 'string') throw notSupplied('content', docs);
    const encoding = body.encoding ?? 'utf-8';
    if (encoding !== 'utf-8' && encoding !== 'base64') throw validation('Blob', 'encoding', 'invalid', docs);
    const data = Buffer.from(body.content, encoding === 'base64' ? 'base64' : 'utf8');
    const sha = gitBlobSha(data);
    repo.blobs.set(sha, data);
    return { status: 201, body: { sha, url: this.api(`/repos/${fullNameOf(repo)}/git/blobs/${sha}`) } };
  }

  /** A tree by sha: one made through git/trees, or the tree of a commit. */
  private treeBySha(repo: Repo, sha: string): Map<string, Buffer> | undefined {
    return repo.trees.get(sha) ?? [...repo.commits.values()].find((c) => treeShaOf(c) === sha)?.tree;
  }

  /**
   * POST git/trees (https://docs.github.com/en/rest/git/trees#create-a-tree): `tree` entries of
   * path, mode, type and either `sha` or `content`, on top of `base_tree` when given; without
   * base_tree the tree holds only the entries listed. Only blob entries are supported here.
   */
  private createTree(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const docs = `${DOCS}/git/trees#create-a-tree`;
    this.nonEmpty(repo, docs);
    const body = isRecord(ctx.body) ? ctx.body : {};
    if (!Array.isArray(body.tree)) throw notSupplied('tree', docs);
    let files = new Map<string, Buffer>();
    if (body.base_tree !== undefined) {
      const base = typeof body.base_tree === 'string' ? this.treeBySha(repo, body.base_tree) : undefined;
      // GitHub answers 422 when base_tree names no tree it has.
      if (!base) throw fail(422, 'base_tree is not a valid tree', docs);
      files = new Map(base);
    }
    for (const entry of body.tree) {
      if (
        !isRecord(entry) ||
        typeof entry.path !== 'string' ||
        entry.path === '' ||
        entry.path.startsWith('/')
      )
        throw fail(422, 'tree.path is invalid', docs);
      // Documented modes: 100644 file, 100755 executable, 040000 subdirectory, 160000 submodule, 120000 symlink.
      if (!['100644', '100755', '040000', '160000', '120000'].includes(String(entry.mode)))
        throw fail(422, `tree.mode is invalid: ${String(entry.mode)}`, docs);
      if (entry.type !== 'blob') throw fail(422, 'only blob entries are supported by this fake', docs);
      const hasSha = entry.sha !== undefined && entry.sha !== null;
      // "sha ... Use either tree.sha or content to specify the contents of the entry. Using both ... will cause an error."
      if (hasSha && entry.content !== undefined)
        throw fail(422, 'tree.sha and tree.content cannot both be given', docs);
      if (entry.sha === null) {
        // "If both tree.sha and content are set to null, the file will be deleted."
        files.delete(entry.path);
      } else if (hasSha) {
        const blob = typeof entry.sha === 'string' ? repo.blobs.get(entry.sha) : undefined;
        if (!blob) throw fail(422, `tree.sha ${String(entry.sha)} is not a valid blob`, docs);
        files.set(entry.path, blob);
      } else if (typeof entry.content === 'string') {
        files.set(entry.path, Buffer.from(entry.content, 'utf8'));
      } else throw fail(422, 'tree.sha or tree.content must be given', docs);
    }
    const sha = createHash('sha1')
      .update(
        JSON.stringify([...files].sort(([a], [b]) => a.localeCompare(b)).map(([p, b]) => [p, gitBlobSha(b)])),
      )
      .digest('hex');
    repo.trees.set(sha, files);
    const fullName = fullNameOf(repo);
    return {
      status: 201,
      body: {
        sha,
        url: this.api(`/repos/${fullName}/git/trees/${sha}`),
        tree: [...files].map(([path, buf]) => ({
          path,
          mode: '100644',
          type: 'blob',
          size: buf.length,
          sha: gitBlobSha(buf),
          url: this.api(`/repos/${fullName}/git/blobs/${gitBlobSha(buf)}`),
        })),
        truncated: false,
      },
    };
  }

  /** POST git/commits: `message` and `tree` required, `parents` commit shas (https://docs.github.com/en/rest/git/commits#create-a-commit). */
  private createGitCommit(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const docs = `${DOCS}/git/commits#create-a-commit`;
    const body = isRecord(ctx.body) ? ctx.body : {};
    if (typeof body.message !== 'string') throw notSupplied('message', docs);
    if (typeof body.tree !== 'string') throw notSupplied('tree', docs);
    const tree = this.treeBySha(repo, body.tree);
    if (!tree) throw fail(422, 'Tree SHA does not exist', docs);
    const parents = body.parents ?? [];
    if (!Array.isArray(parents)) throw fail(422, 'parents is invalid', docs);
    for (const p of parents)
      if (typeof p !== 'string' || !repo.commits.has(p))
        throw fail(422, 'Parent SHA does not exist or is not a commit object', docs);
    if (parents.length > 1) throw fail(422, 'merge commits are not supported by this fake', docs);
    const parent = parents[0] as string | undefined;
    const before = parent === undefined ? new Map<string, Buffer>() : this.mustCommit(repo, parent).tree;
    const changed = [...tree].find(([path, buf]) => !before.get(path)?.equals(buf))?.[0] ?? '';
    const commit = {
      ...this.newCommit(body.message, changed, parent, new Map(tree), body),
      treeSha: body.tree,
    };
    repo.commits.set(commit.sha, commit);
    return { status: 201, body: this.gitCommitView(repo, commit) };
  }

  private refView(repo: Repo, branch: string, sha: string): Record<string, unknown> {
    const fullName = fullNameOf(repo);
    return {
      ref: `refs/heads/${branch}`,
      node_id: `REF_${createHash('sha1').update(`${fullName}:${branch}`).digest('hex').slice(0, 16)}`,
      url: this.api(`/repos/${fullName}/git/refs/heads/${branch}`),
      object: { type: 'commit', sha, url: this.api(`/repos/${fullName}/git/commits/${sha}`) },
    };
  }

  /** GET git/ref/{ref}: `heads/<branch>` (https://docs.github.com/en/rest/git/refs#get-a-reference); 404 when absent, 409 on an empty repository. */
  private getRef(params: string[]): Answer {
    const repo = this.repo(params);
    const docs = `${DOCS}/git/refs#get-a-reference`;
    const ref = decodeURIComponent(params[2] ?? '');
    const branch = /^heads\/(.+)$/.exec(ref)?.[1];
    if (!branch || !repo.branches.has(branch)) throw fail(404, 'Not Found', docs);
    const sha = repo.branches.get(branch);
    if (sha === undefined) throw fail(409, 'Git Repository is empty.', docs);
    return { status: 200, body: this.refView(repo, branch, sha) };
  }

  /**
   * POST git/refs (https://docs.github.com/en/rest/git/refs#create-a-reference): `ref` must start
   * with "refs" and have at least two slashes; 422 "Reference already exists" for one that does.
   */
  private createRef(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const docs = `${DOCS}/git/refs#create-a-reference`;
    const body = isRecord(ctx.body) ? ctx.body : {};
    if (typeof body.ref !== 'string') throw notSupplied('ref', docs);
    if (typeof body.sha !== 'string') throw notSupplied('sha', docs);
    if (!/^refs\/[^/]+\/.+/.test(body.ref))
      throw fail(422, "Reference name must start with 'refs' and have at least two slashes.", docs);
    const branch = /^refs\/heads\/(.+)$/.exec(body.ref)?.[1];
    if (!branch) throw fail(422, 'only branch references (refs/heads/...) are supported by this fake', docs);
    if (repo.branches.has(branch)) throw fail(422, 'Reference already exists', docs);
    if (!repo.commits.has(body.sha)) throw fail(422, 'Object does not exist', docs);
    repo.branches.set(branch, body.sha);
    return { status: 201, body: this.refView(repo, branch, body.sha) };
  }

  /**
   * PATCH git/refs/{ref} (https://docs.github.com/en/rest/git/refs#update-a-reference): `sha`
   * required; `force` defaults to false, and then a sha that does not descend from the current one
   * is refused with 422 "Update is not a fast forward".
   */
  private updateRef(ctx: Ctx, params: string[]): Answer {
    const repo = this.repo(params);
    const docs = `${DOCS}/git/refs#update-a-reference`;
    const ref = decodeURIComponent(params[2] ?? '');
    const branch = /^heads\/(.+)$/.exec(ref)?.[1];
    if (!branch || !repo.branches.has(branch)) throw fail(422, 'Reference does not exist', docs);
    const body = isRecord(ctx.body) ? ctx.body : {};
    if (typeof body.sha !== 'string') throw notSupplied('sha', docs);
    if (!repo.commits.has(body.sha)) throw fail(422, 'Object does not exist', docs);
    const current = repo.branches.get(branch);
    const fastForward = current === undefined || this.history(repo, body.sha).some((c) => c.sha === current);
    if (!fastForward && body.force !== true) throw fail(422, 'Update is not a fast forward', docs);
    repo.branches.set(branch, body.sha);
    return { status: 200, body: this.refView(repo, branch, body.sha) };
  }

  // ---- auth and GitHub App -----------------------------------------------------------------------

  /** Returns an error answer for a request whose credentials do not fit the route, else undefined. */
  checkAuth(
    path: string,
    authorization: string | undefined,
    app: GitHubAppFake | undefined,
  ): HttpError | undefined {
    const credential = /^(?:token|bearer)\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    const now = Date.now();
    if (path.startsWith('/app/') || path === '/app') {
      const refusal = app ? (credential ? app.verifyJwt(credential, now) : JWT_UNDECODABLE) : JWT_UNDECODABLE;
      return refusal ? fail(401, refusal) : undefined;
    }
    if (credential === undefined)
      return path === '/' || path === '/rate_limit' ? undefined : fail(401, 'Requires authentication');
    const valid = credential === this.token || (app?.accepts(credential, now) ?? false);
    return valid ? undefined : fail(401, 'Bad credentials');
  }

  /** POST /app/installations/{id}/access_tokens, after the JWT was verified. */
  installationToken(app: GitHubAppFake, installationId: string): Answer {
    if (Number(installationId) !== app.options.installationId) throw fail(404, 'Not Found');
    const issued = app.issue(Date.now());
    return {
      status: 201,
      body: {
        token: issued.token,
        expires_at: iso(issued.expiresAt),
        permissions: { contents: 'write', issues: 'write', pull_requests: 'write', metadata: 'read' },
        repository_selection: 'all',
      },
    };
  }
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

function labelNames(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  const names = value
    .map((l: unknown) => (isRecord(l) ? l.name : l))
    .filter((n): n is string => typeof n === 'string');
  return [...new Set(names)];
}

function assigneeLogins(body: Record<string, unknown>): string[] {
  if (Array.isArray(body.assignees)) return body.assignees.filter((a): a is string => typeof a === 'string');
  return typeof body.assignee === 'string' ? [body.assignee] : [];
}

function toIssueState(i: IssueRecord): GitHubIssue {
  return {
    number: i.number,
    title: i.title,
    body: i.body,
    state: i.state,
    state_reason: i.state_reason,
    labels: [...i.labels],
    assignees: [...i.assignees],
    comments: i.comments.map((c) => ({ ...c })),
  };
}

interface ActiveFault {
  fault: GitHubFault;
  until: number | undefined;
  remaining: number | undefined;
}

/** What an injected fault answers; rate-limit faults carry GitHub's rate-limit headers. */
function faultAnswer(fault: GitHubFault): Answer {
  const retryAfter = fault.retryAfterSeconds ?? 1;
  if (fault.status === 429 || fault.status === 403) {
    const message =
      fault.status === 429
        ? 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.'
        : 'API rate limit exceeded for installation ID 1.';
    return {
      status: fault.status,
      body: { message, documentation_url: RATE_LIMIT_DOCS, status: String(fault.status) },
      headers: {
        'retry-after': String(retryAfter),
        'x-ratelimit-limit': String(RATE_LIMIT),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-used': String(RATE_LIMIT),
        'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + retryAfter),
        'x-ratelimit-resource': 'core',
      },
    };
  }
  const message = fault.status === 503 ? 'Service Unavailable' : 'Server Error';
  return { status: fault.status, body: { message, status: String(fault.status) } };
}

export async function startGitHubFake(options: StartGitHubFakeOptions = {}): Promise<GitHubFake> {
  let baseUrl = '';
  const prefix = (options.pathPrefix ?? '').replace(/\/+$/, '');
  const app = options.app ? new GitHubAppFake(options.app) : undefined;
  const state = new GitHubState(() => baseUrl, options.login ?? 'opsbot[bot]', options.token ?? 'ghp_test');
  const requests: GitHubRequestRecord[] = [];
  let faults: ActiveFault[] = [];
  const resetAt = Math.ceil(Date.now() / 1000) + 3600;

  const takeFault = (path: string, at: number): GitHubFault | undefined => {
    faults = faults.filter(
      (f) => (f.until === undefined || at < f.until) && (f.remaining === undefined || f.remaining > 0),
    );
    const active = faults.find((f) => f.fault.path === undefined || f.fault.path.test(path));
    if (!active) return undefined;
    if (active.remaining !== undefined) active.remaining--;
    return active.fault;
  };

  const rateHeaders = (): Record<string, string> => {
    const used = Math.min(requests.length + 1, RATE_LIMIT);
    return {
      'x-ratelimit-limit': String(RATE_LIMIT),
      'x-ratelimit-remaining': String(RATE_LIMIT - used),
      'x-ratelimit-reset': String(resetAt),
      'x-ratelimit-used': String(used),
      'x-ratelimit-resource': 'core',
    };
  };

  const route = (ctx: Ctx, authorization: string | undefined): Answer => {
    const authError = state.checkAuth(ctx.path, authorization, app);
    if (authError) throw authError;
    const tokenRoute = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(ctx.path);
    if (app && tokenRoute?.[1] && ctx.method === 'POST') return state.installationToken(app, tokenRoute[1]);
    if (ctx.method === 'GET' && ctx.path === '/rate_limit') {
      return { status: 200, body: rateLimitBody(rateHeaders()) };
    }
    for (const r of state.routes) {
      const match = r.method === ctx.method ? r.pattern.exec(ctx.rawPath) : null;
      if (match) return r.handle(ctx, captures(match));
    }
    throw fail(404, 'Not Found');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const raw = (await readBody(req)).toString('utf8');
    const at = Date.now();
    // Without the prefix a GitHub Enterprise Server answers with its web UI, never the API.
    if (!url.pathname.startsWith(`${prefix}/`)) throw new HttpError(404, { message: 'Not Found' });
    const rawPath = url.pathname.slice(prefix.length);
    const ctx: Ctx = {
      method: req.method ?? 'GET',
      path: safeDecode(rawPath),
      rawPath,
      query: url.searchParams,
      body: undefined,
    };
    let answer: Answer;
    try {
      ctx.body = raw === '' ? undefined : parseJson(raw);
      const fault = takeFault(ctx.path, at);
      answer = fault ? faultAnswer(fault) : route(ctx, req.headers.authorization);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      answer = { status: err.status, body: err.body };
    }
    requests.push({
      method: ctx.method,
      path: ctx.path,
      query: Object.fromEntries(url.searchParams),
      status: answer.status,
      at,
      body: ctx.body,
    });
    send(res, answer, {
      ...rateHeaders(),
      'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
    });
  };

  const server = await startServer(handle, {
    ...(options.host === undefined ? {} : { host: options.host }),
    port: options.port ?? 0,
  });
  baseUrl = `${server.url}${prefix}`;

  return {
    url: baseUrl,
    requests,
    installationTokens: app?.issued ?? [],
    revokeInstallationTokens: () => app?.revokeTokens(),
    setAppPublicKey: (publicKey) => app?.setPublicKey(publicKey),
    setInstallationTokenTtl: (ms) => app?.setTokenTtl(ms),
    createRepo: (fullName, opts) => state.createRepo(fullName, opts),
    createBranch: (fullName, branch, from) => state.createBranch(fullName, branch, from),
    files: (fullName, branch) => state.files(fullName, branch),
    commits: (fullName, branch) => state.commits(fullName, branch),
    issues: (fullName) => state.issues(fullName),
    addPullRequest: (fullName, pr) => state.addPullRequest(fullName, pr),
    pullComments: (fullName, number) => state.pullComments(fullName, number),
    failFor: (fault) => {
      const until = fault.durationMs === undefined ? undefined : Date.now() + fault.durationMs;
      faults.push({ fault, until, remaining: fault.times });
    },
    clearFaults: () => {
      faults = [];
    },
    waitFor: (fn, timeoutMs = 5000) => pollUntil(fn, timeoutMs),
    close: () => server.close(),
  };
}

/** Regex groups that did not take part in the match become ''. */
function captures(match: RegExpExecArray): string[] {
  return match.slice(1).map((p) => p ?? '');
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function rateLimitBody(headers: Record<string, string>): Record<string, unknown> {
  const core = {
    limit: Number(headers['x-ratelimit-limit']),
    used: Number(headers['x-ratelimit-used']),
    remaining: Number(headers['x-ratelimit-remaining']),
    reset: Number(headers['x-ratelimit-reset']),
  };
  return { resources: { core, search: { ...core, limit: 30, used: 0, remaining: 30 } }, rate: core };
}

/** Writes an answer; 502s come back as an HTML page, as GitHub's edge sends them. */
function send(res: ServerResponse, answer: Answer, common: Record<string, string>): void {
  const headers = { ...common, ...answer.headers };
  if (answer.status === 204) {
    sendEmpty(res, 204, headers);
  } else if (answer.status === 502) {
    const html = '<html><body><h1>502 Bad Gateway</h1></body></html>';
    sendText(res, 502, html, { ...headers, 'content-type': 'text/html; charset=utf-8' });
  } else {
    sendJson(res, answer.status, answer.body, headers);
  }
}
