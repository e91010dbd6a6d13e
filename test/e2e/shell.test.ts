import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = resolve('dist/src/cli.js');

/** Runs `opsbot start` with no Slack, GitHub or kube credentials, typing lines into its terminal. */
type Line = {
  text: string | ((out: string) => string);
  waitFor?: RegExp;
  /** Then waits until this holds of the session's folder (e.g. its local audit repository). */
  settled?: (cwd: string) => boolean;
};

async function shellSession(lines: Line[], env: Record<string, string> = {}) {
  const cwd = mkdtempSync(join(tmpdir(), 'opsbot-shell-'));
  const child = spawn(process.execPath, [CLI, 'start', '--as', 'UALICE'], {
    cwd,
    // A fresh HOME: no ~/.kube/config, so the sandbox is used; no REDIS_URL: local mode decides.
    env: { PATH: process.env.PATH ?? '', HOME: cwd, PORT: '0', OPSBOT_USER_NAME: 'alice', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const waitFor = async (pattern: RegExp, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(out)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output so far:\n${out}`);
      if (child.exitCode !== null) throw new Error(`shell exited early:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  // Generous: a cold start on a loaded 2-core machine can take a while.
  await waitFor(/opsbot local shell/, 45_000);
  for (const line of lines) {
    child.stdin.write(`${typeof line.text === 'function' ? line.text(out) : line.text}\n`);
    if (line.waitFor) await waitFor(line.waitFor);
    const deadline = Date.now() + 20_000;
    while (line.settled && !line.settled(cwd)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting to settle after ${String(line.text)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  child.stdin.end();
  const [code] = (await once(child, 'exit')) as [number | null];
  return { out, code, cwd };
}

/** Subjects of the commits in the session's local audit repository, newest first. */
function auditSubjects(cwd: string): string[] {
  try {
    return execFileSync('git', ['-C', join(cwd, '.opsbot', 'audit'), 'log', '--format=%s'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).split('\n');
  } catch {
    return [];
  }
}

describe('local shell mode against the sandbox cluster', () => {
  it('shows status, rolls back in one updating message, shows history, and commits the audit locally', async () => {
    const { out, code, cwd } = await shellSession(
      [
        {
          text: '/ops status api --env staging',
          waitFor: /Replicas: desired 3 · updated 3 · ready 3 · available 3/,
        },
        {
          text: '/ops rollback api --env staging --reason "bad deploy"',
          waitFor: /Rollout complete: api successfully rolled out/,
        },
        { text: '/ops history api --env staging', waitFor: /← current/ },
        {
          text: '/ops rollback api --env prod --reason "hotfix"',
          waitFor: /type: \/click approval\.approve ([0-9a-f]{32})/,
        },
      ],
      { OPSBOT_QUEUE: 'memory' },
    );
    expect(code).toBe(0);
    expect(out).toContain('running against the built-in SANDBOX cluster');
    expect(out).toContain('using an in-process queue');
    // Every reply about the cluster says it is the sandbox.
    expect(out).toContain('(sandbox cluster: nothing real was touched)');
    expect(out).toMatch(
      /from revision 3 \(api=ghcr\.io\/acme\/api:1\.5\.0\)\nto revision 2 \(api=ghcr\.io\/acme\/api:1\.4\.1\)/,
    );
    // One message per action: [2] was updated in place until the rollout completed.
    expect(out).toMatch(/\[2, updated\] ⏪ Rolled back api in staging/);
    expect(out).toMatch(/4 api=ghcr\.io\/acme\/api:1\.4\.1 · deploy api 1\.4\.1[^\n]*← current/);
    expect(out).toContain('Image: api=ghcr.io/acme/api:1.5.0 → api=ghcr.io/acme/api:1.4.1');

    const log = execFileSync('git', ['-C', join(cwd, '.opsbot/audit'), 'log', '--format=%s'], {
      encoding: 'utf8',
    });
    expect(log).toContain('rollback api in staging by @alice: executed');
    expect(log).toContain('status api in staging by @alice: executed');
    expect(log).toContain('rollback api in prod by @alice: requested');
  }, 60_000);

  it('lets a teammate approve a protected action with /as and /click', async () => {
    const idIn = (out: string) => /approval\.approve ([0-9a-f]{32})/.exec(out)?.[1] ?? 'missing';
    const { out } = await shellSession(
      [
        {
          text: '/ops scale web 4 --env prod --reason "load test"',
          waitFor: /type: \/click approval\.approve [0-9a-f]{32}/,
        },
        {
          text: (o) => `/click approval.approve ${idIn(o)}`,
          waitFor: /Refused: you cannot approve your own request/,
        },
        { text: '/as UTEAMMATE teammate', waitFor: /You are now teammate/ },
        {
          text: (o) => `/click approval.approve ${idIn(o)}`,
          waitFor: /Rollout complete: web successfully rolled out/,
        },
      ],
      { OPSBOT_QUEUE: 'memory' },
    );
    expect(out).toContain('Replicas: 2 → 4');
    expect(out).toContain('Approved by @teammate');
  }, 60_000);

  it('runs the README tour: rollback, approval, a preview environment, and an alert whose incident a runbook button fixes', async () => {
    const last = (out: string, pattern: RegExp) =>
      [...out.matchAll(new RegExp(pattern.source, 'g'))].at(-1)?.[1] ?? 'missing';
    const APPROVE = /approval\.approve ([0-9a-f]{32})/;
    const RUN_BUTTON = /\[Run scale-out\] {2}type: \/click incident\.action ([0-9a-f]{32})/;
    const { out, code, cwd } = await shellSession(
      [
        { text: '/ops status api --env staging', waitFor: /available 3/ },
        {
          text: '/ops rollback api --env staging --reason "bad deploy"',
          waitFor: /Rollout complete: api successfully rolled out/,
        },
        { text: '/ops rollback api --env prod --reason "hotfix"', waitFor: APPROVE },
        { text: '/as UTEAMMATE teammate', waitFor: /You are now teammate/ },
        {
          text: (o) => `/click approval.approve ${last(o, APPROVE)}`,
          waitFor: /\(job cmd-[0-9a-f]+-run\)[\s\S]*Rollout complete: api successfully rolled out/,
        },
        { text: '/as UALICE alice', waitFor: /You are now alice/ },
        { text: '/ops env open feature-x', waitFor: /web: ✅ Rollout complete: web successfully rolled out/ },
        { text: '/ops env list', waitFor: /feature-x[^\n]*expires/ },
        {
          text: '/alert HighLatency deployment=api env=staging severity=critical',
          // The channel counts as the incident's once its issue is stored, which the summary's update
          // (it gains the issue link) shows; the "opened" line is printed as the issue is created.
          waitFor: /GitHub issue local\/incidents#1 opened[\s\S]*\[\d+, updated\] 🚨 Incident: HighLatency/,
        },
        {
          text: (o) => `/click incident.action ${last(o, RUN_BUTTON)}`,
          waitFor: /scale-out finished: 4 of 4 steps done/,
          // The reply comes before the audit commit, and the incident learns of the action from that
          // commit: resolve only once it is written, as a person reading the channel would.
          settled: (cwd) => auditSubjects(cwd).some((s) => s.includes('scale-out')),
        },
        {
          text: '/alert HighLatency deployment=api env=staging severity=critical --resolve',
          // The channel's resolution message comes after the issue is closed. The incident learns of
          // the action from a queued note, which may land after the resolve: then a later line says it.
          waitFor:
            /✅ Resolved after \d+s by the alerts\.\nAlerts: 1 \(HighLatency\)\.\n(Actions taken:\n• \d\d:\d\d:\d\dZ scale api in staging by @alice: executed|No actions were taken through opsbot\.[\s\S]*Recorded after the resolution: • \d\d:\d\d:\d\dZ scale api in staging by @\u200d?alice: executed)/,
        },
      ],
      { OPSBOT_QUEUE: 'memory' },
    );
    expect(code).toBe(0);
    // Start-up says webhooks are open, and only on loopback.
    expect(out).toMatch(
      /🔓 Alert webhooks accept requests WITHOUT a token, on loopback only: http:\/\/127\.0\.0\.1:\d+\/webhooks\/alertmanager/,
    );
    // Approval: a second person approved the protected rollback.
    expect(out).toContain('✅ Approved by @teammate: rollback api in prod requested by @alice.');
    // Preview environment from the sample template, in the sandbox.
    expect(out).toMatch(
      /🚀 Preview feature-x opened from tag latest: https:\/\/feature-x\.preview\.localhost/,
    );
    expect(out).toContain('Namespace preview-feature-x · 4 objects applied');
    // The Alertmanager notification was accepted by the bot's own webhook.
    expect(out).toMatch(
      /Alertmanager → POST \/webhooks\/alertmanager \(firing: [^)]*\): 202 \{"status":"accepted"/,
    );
    // The incident channel, its summary and its buttons, in the terminal.
    const channel = /🆕 #(inc-\d{8}-highlatency) was created/.exec(out)?.[1];
    expect(channel).toBeDefined();
    expect(out).toContain(`#${channel}: invited @alice, @teammate`);
    expect(out).toMatch(new RegExp(`#${channel} \\[\\d+\\] 🚨 Incident: HighLatency \\(critical\\)`));
    expect(out).toMatch(/\[Rollback api\] {2}type: \/click incident\.action [0-9a-f]{32}/);
    // The runbook ran in the incident channel, and the incident was resolved with it on record.
    expect(out).toMatch(
      new RegExp(`#${channel} \\[\\d+, updated\\] 📜 scale-out in staging: scale-out finished`),
    );
    expect(out).toContain('✅ 3. Status of api in staging — api in staging: 6/6 ready');
    expect(out).toMatch(
      new RegExp(`#${channel} \\[\\d+, updated\\] ✅ Resolved: HighLatency \\(critical\\)`),
    );
    expect(out).toMatch(/💬 Comment on local\/incidents#1:\n {4}### Timeline/);
    // On the issue too: in the resolution comment, or in its own comment when the note came late.
    expect(out).toMatch(
      /(Actions taken:\n• \d\d:\d\d:\d\dZ scale api in staging by @alice: executed|Recorded after the resolution:\n {4}• \d\d:\d\d:\d\dZ scale api in staging by @\u200d?alice: executed)/,
    );
    expect(out).toContain(
      '📋 local/incidents#1 closed (labels: severity:critical, status:resolved, incident)',
    );

    const log = execFileSync('git', ['-C', join(cwd, '.opsbot/audit'), 'log', '--format=%s'], {
      encoding: 'utf8',
    });
    expect(log).toContain('run scale-out in staging by @alice: executed');
    expect(log).toContain('env.open feature-x in staging by @alice: executed');
    expect(log).toContain('rollback api in prod by @alice: approved');
  }, 180_000);

  it('accepts unauthenticated alerts on loopback only: bound to another address, it refuses them and says so', async () => {
    const { out } = await shellSession(
      [{ text: '/alert HighLatency deployment=api env=staging', waitFor: /Alertmanager → POST/ }],
      { OPSBOT_QUEUE: 'memory', HOST: '0.0.0.0' },
    );
    expect(out).toContain('http on 0.0.0.0:');
    expect(out).toContain(
      '🔐 Alert webhooks are refused: 0.0.0.0 is not loopback and OPSBOT_WEBHOOK_TOKEN is not set.',
    );
    expect(out).toMatch(/Alertmanager → POST \/webhooks\/alertmanager \(firing: [^)]*\): 401 /);
    expect(out).not.toContain('was created');
  }, 60_000);

  it('uses Redis with BullMQ when Redis answers', async () => {
    const { out, code } = await shellSession(
      [{ text: '/ops status worker --env staging', waitFor: /worker in staging/ }],
      {
        REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        OPSBOT_QUEUE_PREFIX: `test-shell-${Date.now()}`,
      },
    );
    expect(code).toBe(0);
    expect(out).not.toContain('in-process queue');
  }, 60_000);
});
