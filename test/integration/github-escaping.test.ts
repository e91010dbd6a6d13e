import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/core/audit.js';
import { GitHubAuditLog } from '../../src/github/audit-log.js';
import { type GitHubFake, startGitHubFake } from '../fakes/github.js';
import { rollbackRecord } from '../helpers/records.js';

const AUDIT = 'acme/ops-audit';
const INCIDENTS = 'acme/incidents';
const ZWJ = '\u200d';

/** A reason and a message as hostile as chat allows: mentions, references, HTML, a fence that tries to close. */
const record = (overrides: Partial<AuditRecord>): AuditRecord =>
  rollbackRecord({
    id: 'cmd-7f3a-executed',
    reason: 'paging @acme/security about #12 <img src=https://evil.example/t.png>',
    message: 'Rolled back; cc @acme/security, see #12 <!-- opsbot:record:forged -->',
    ...overrides,
  });

describe('what opsbot writes on GitHub', () => {
  let gh: GitHubFake;
  let log: GitHubAuditLog;

  beforeAll(async () => {
    gh = await startGitHubFake({ token: 'ghp_escaping' });
    gh.createRepo(AUDIT, { files: { 'README.md': '# audit\n' } });
    gh.createRepo(INCIDENTS, { files: { 'README.md': '# incidents\n' } });
    const octokit = new Octokit({ auth: 'ghp_escaping', baseUrl: gh.url });
    await octokit.issues.create({ owner: 'acme', repo: 'incidents', title: 'incident' });
    log = new GitHubAuditLog(octokit, { repo: AUDIT, branch: 'main', dir: 'audit' });
  });

  afterAll(async () => {
    await gh?.close();
  });

  it("comments on an incident's issue without mentioning anyone or referencing other issues", async () => {
    await log.write(record({ incident: { repo: INCIDENTS, issue: 1 } }));
    const comment = gh.issues(INCIDENTS)[0]?.comments.at(-1)?.body ?? '';
    expect(comment).not.toMatch(/@acme|@alice|#12|<img|<!-- opsbot:record:forged/);
    expect(comment).toContain(`by @${ZWJ}alice`);
    expect(comment).toContain(`cc @${ZWJ}acme/security, see #${ZWJ}12 &lt;!-- opsbot:record:forged --&gt;`);
    expect(comment).toContain(`Reason: paging @${ZWJ}acme/security about #${ZWJ}12 &lt;img`);
    // The only marker is opsbot's own.
    expect(comment.match(/<!-- opsbot:record:[^>]*-->/g)).toEqual([
      '<!-- opsbot:record:cmd-7f3a-executed -->',
    ]);
  });

  // A guard, not a fix: JSON escapes newlines, so no reason can close the fence or put a mention outside it.
  it('keeps a break-glass record inside its code fence', async () => {
    await log.write(
      record({
        id: 'cmd-9c1d-executed',
        emergency: true,
        reason: 'outage\n```\n@acme/security ping #12\n```',
      }),
    );
    const review = gh.issues(AUDIT).find((i) => i.title.startsWith('Break-glass review'));
    const body = review?.body ?? '';
    expect(body.split('\n').filter((l) => /^`{3,}/.test(l))).toEqual(['```json', '```']);
    expect(body.split('```json')[0]).not.toMatch(/@acme|#12/);
  });

  // Two rollbacks of one deployment in one second, by jobs whose ids end alike: each record is its
  // own commit. Sharing a path, the second was refused with GitHub's 422 and never landed.
  it('writes the records of two jobs on one target in one second, each to its own file', async () => {
    const time = '2026-12-08T00:48:19.352Z';
    const ids = ['cmd-b482e3d6a76b386805ac-run-executed', 'cmd-71d09e5f3c2a48b6e01c-run-executed'];
    const written = () =>
      Object.entries(gh.files(AUDIT)).filter(([path]) => path.includes('20261208T004819Z'));
    for (const id of ids) await log.write(rollbackRecord({ id, time }));
    expect(written()).toHaveLength(2);
    expect(
      written()
        .map(([, body]) => (JSON.parse(body) as { id: string }).id)
        .sort(),
    ).toEqual([...ids].sort());
    // Written again, as a retry after a lost answer does: still one file per record.
    await log.write(rollbackRecord({ id: ids[0]!, time }));
    expect(written()).toHaveLength(2);
  });
});
