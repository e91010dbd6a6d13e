import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { restart } from '../../commands/restart.js';
import { rollback } from '../../commands/rollback.js';
import { OpsbotConfig } from '../../src/config/schema.js';
import { auditCommitMessage } from '../../src/core/audit.js';
import type { Message } from '../../src/core/message.js';
import type { CommandModule, RunContext } from '../../src/engine/command-module.js';
import { runCommand } from '../../src/engine/run-command.js';
import { createLogger } from '../../src/logger.js';
import type { Cluster } from '../../src/ports.js';
import { MemoryApprovals, MemoryLocks } from '../../src/queue/memory-state.js';
import { rollbackRecord } from '../helpers/records.js';
import { parseRunbook, runWith } from '../helpers/registry.js';

const config = OpsbotConfig.parse(
  parseYaml(`
environments:
  staging: { context: staging, namespace: apps }
  prod: { context: prod, namespace: apps, protected: true }
audit: { repo: acme/ops-audit }
`),
);

/** What a user can type inside one quoted --reason (Slack keeps Shift+Enter newlines in the text). */
const HOSTILE_REASON = [
  'hotfix',
  '*Plan* (server-side dry run):',
  '• Image: api=ghcr.io/evil/api:latest → api=ghcr.io/acme/api:1.5.0',
  '<!channel> <https://evil.example/approve|Approve here>',
  '',
  'Co-authored-by: Mallory <mallory@evil.example>',
  'Signed-off-by: Mallory <mallory@evil.example>',
].join('\n');

function trailersOf(message: string): string[] {
  const parsed = spawnSync('git', ['interpret-trailers', '--parse'], { input: message, encoding: 'utf8' });
  expect(parsed.status).toBe(0);
  return parsed.stdout.split('\n').filter(Boolean);
}

describe('reasons', () => {
  it('are one line however they were typed', () => {
    const args = rollback.parse({ words: ['api'], flags: { env: 'prod', reason: HOSTILE_REASON } });
    expect(args.reason).not.toMatch(/[\n\r\u2028\u2029]/);
    expect(args.reason).toMatch(/^hotfix \*Plan\* \(server-side dry run\): • Image:/);
  });

  it('cannot draw a fake plan, a mention or a link into an approval request', async () => {
    const posted: Message[] = [];
    // The real restart, with a plan that needs no cluster: what the approver is shown is what matters.
    const command: CommandModule = {
      ...(restart as CommandModule),
      preview: async () => ({ lines: ['Restart all 2 pods (rolling)'], specVersion: '1/uid-web' }),
    };
    await runCommand(
      {
        config,
        cluster: { sandbox: false } as Cluster,
        chat: {
          post: async (_channel, message) => {
            posted.push(message);
            return { ts: '1.0' };
          },
          update: async () => {},
          postEphemeral: async () => {},
        },
        clock: { now: () => 1_790_000_000_000 },
        jobs: {
          enqueueCommand: async (job) => ({ jobId: job.id, duplicate: false }),
          enqueueAudit: async (record) => ({ jobId: record.id, duplicate: false }),
          scheduleApprovalExpiry: async () => {},
        },
        locks: new MemoryLocks(),
        approvals: new MemoryApprovals(),
        commands: [command],
        log: createLogger('silent'),
        newApprovalId: () => 'a'.repeat(32),
      },
      {
        data: {
          id: 'cmd-1',
          command: 'restart',
          input: { words: ['api'], flags: { env: 'prod', reason: HOSTILE_REASON } },
          requester: { id: 'UONCALL1', name: 'alice' },
          channel: { id: 'COPS' },
          requestedAt: 0,
          stage: 'approval',
        },
        attempt: 1,
        maxAttempts: 5,
        checkpoints: {},
        saveCheckpoints: async () => {},
      },
    );
    const request = posted.find((m) => m.text.startsWith('Approval needed'));
    const lines = (request?.lines ?? []).flatMap((l) => l.split('\n'));
    expect(lines.filter((l) => l.startsWith('*Plan*'))).toEqual(['*Plan* (server-side dry run):']);
    expect(lines.filter((l) => l.startsWith('•'))).toEqual(['• Restart all 2 pods (rolling)']);
    const reason = lines.find((l) => l.startsWith('*Reason:*'));
    expect(reason).toMatch(
      /^\*Reason:\* hotfix \*Plan\* .* &lt;!channel&gt; &lt;https:\/\/evil\.example\/approve\|Approve here&gt;/,
    );
    expect(JSON.stringify(request)).not.toMatch(/<!channel>|<https:\/\/evil/);
  });
});

describe('audit commit messages', () => {
  const record = rollbackRecord({
    reason: HOSTILE_REASON,
    message: 'Rolled back to revision 3\n\nCo-authored-by: Eve <eve@evil.example>',
  });

  it('carry no trailer that chat text put there', () => {
    const message = auditCommitMessage(record);
    for (const line of message.split('\n')) expect(line).not.toMatch(/^(Co-authored-by|Signed-off-by):/i);
    expect(trailersOf(message).filter((t) => /^(co-authored-by|signed-off-by)/i.test(t))).toEqual([]);
    expect(message.split('\n')[0]).toBe('rollback api in prod by @alice: executed');
  });
});

describe('runbook messages', () => {
  it('show parameter values as text, never as mentions or links', async () => {
    const runbook = parseRunbook({
      name: 'say',
      description: 'Say something',
      params: { note: { type: 'string' } },
      steps: [{ kind: 'message', text: 'Note: {{note}}' }],
    });
    const command = runWith([runbook]);
    const note = '<!channel> <https://evil.example|log in again>';
    const args = command.parse({ words: ['say', `note=${note}`], flags: { env: 'staging' } });
    const saved = new Map<string, unknown>();
    const ctx = {
      job: { id: 'cmd-say', requester: { id: 'U1' }, channel: { id: 'C1' } },
      config,
      checkpoint: {
        get: (k: string) => saved.get(k),
        set: async (k: string, v: unknown) => void saved.set(k, v),
      },
      progress: async () => {},
      expectUnchanged: () => {},
      audit: async () => {},
      failpoint: () => {},
    } as unknown as RunContext;
    const outcome = await command.run!(ctx, args);
    const shown = JSON.stringify(outcome.message);
    expect(shown).toContain('Note: &lt;!channel&gt; &lt;https://evil.example|log in again&gt;');
    expect(shown).not.toMatch(/<!channel>|<https:\/\/evil/);
  });
});
