import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { commands } from '../../commands/index.js';
import { OpsbotConfig } from '../../src/config/schema.js';
import type { AuditRecord } from '../../src/core/audit.js';
import type { CommandJobInput } from '../../src/core/command-job.js';
import { OpsError } from '../../src/core/errors.js';
import { parseInput } from '../../src/core/grammar.js';
import { authorize } from '../../src/core/policy.js';
import { type Ack, acceptCommand } from '../../src/engine/accept-command.js';
import type { CommandModule } from '../../src/engine/command-module.js';
import { findCommand } from '../../src/engine/command-module.js';
import type { Directory, Jobs } from '../../src/ports.js';
import { DEFAULT_CONFIG, USERS } from '../helpers/world.js';

const config = OpsbotConfig.parse(parseYaml(DEFAULT_CONFIG));
const GROUPS: Record<string, string[]> = {
  [USERS.oncall2.id]: ['sre-oncall'],
  [USERS.developer.id]: ['engineering'],
};
const directory: Directory = {
  userName: async (id) => id,
  groupsOf: async (id) => new Set(GROUPS[id] ?? []),
};

/** Throws anything that is not an OpsError; OpsErrors are the clear, expected refusals. */
function onlyOpsErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof OpsError)) throw err;
    expect(err.userMessage.trim().length).toBeGreaterThan(0);
  }
}

// Words that reach deep into the grammar, mixed with junk, quotes, dashes and control characters.
const token = fc.oneof(
  fc.constantFrom(
    ...commands.flatMap((c) => c.name.split(' ')),
    'api',
    'worker',
    'web',
    'nope',
    'staging',
    'prod',
    'qa',
    '--env',
    '--env=prod',
    '--env=staging',
    '--reason',
    '"bad deploy"',
    '--emergency',
    '--to',
    '--dry-run',
    '--ttl',
    '--replicas',
    '0',
    '-1',
    '3',
    '999999999999',
    '1e3',
    '--',
    '—env',
    '"',
    '“quoted”',
    "'",
    '--=',
    '--__proto__',
    '__proto__',
    'constructor',
    '--constructor',
    '<@U123>',
    '<!channel>',
    '`rm -rf /`',
    '$' + '{x}',
    '../..',
    'api/../../etc',
    'A'.repeat(300),
  ),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
// Nearly well-formed requests, so that the queued and denied branches are reached too.
const plausible = fc
  .tuple(
    fc.constantFrom('rollback', 'restart', 'status', 'history', 'scale', 'whoami', 'help', 'env list'),
    fc.constantFrom('api', 'worker', 'web', 'nope', 'api 3', 'web 0', 'worker 99'),
    fc.constantFrom('--env staging', '--env prod', '--env=staging', '--env qa', ''),
    fc.constantFrom('', '--reason "bad deploy"', '--emergency --reason "hotfix now"', '--to 1', '--to zero'),
    // Half of them well-formed, half with junk appended.
    fc.oneof(fc.constant([]), fc.array(token, { maxLength: 2 })),
  )
  .map(([verb, target, env, extra, junk]) => [verb, target, env, extra, ...junk].join(' '));
const text = fc.oneof(
  { arbitrary: plausible, weight: 3 },
  fc.array(token, { maxLength: 9 }).map((t) => t.join(' ')),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ maxLength: 2100 }),
);
const user = fc.constantFrom(USERS.oncall, USERS.oncall2, USERS.developer, USERS.stranger);

interface Recorded {
  commands: CommandJobInput[];
  audits: AuditRecord[];
}

function recordingJobs(recorded: Recorded): Jobs {
  return {
    enqueueCommand: async (job) => {
      recorded.commands.push(job);
      return { jobId: job.id, duplicate: false };
    },
    enqueueAudit: async (record) => {
      recorded.audits.push(record);
      return { jobId: record.id, duplicate: false };
    },
    scheduleApprovalExpiry: async () => {},
  };
}

/** Whether policy allows what a queued job will do, derived again from the job alone. */
function allowedByPolicy(job: CommandJobInput, userId: string): boolean {
  const command = commands.find((c) => c.name === job.command) as CommandModule | undefined;
  if (!command?.action) return false;
  const args = command.parse(job.input);
  const scope = command.scope?.(args, config);
  if (!scope) return false;
  const principal = { userId, groups: new Set(GROUPS[userId] ?? []), channel: job.channel };
  const needs = [
    { action: command.action, environment: scope.environment },
    ...(command.requires?.(config, args, undefined) ?? []),
  ];
  return needs.every((n) => authorize(config, principal, n.action, n.environment).allowed);
}

describe('the command grammar under random and hostile input', () => {
  it('parseInput throws nothing but OpsErrors', () => {
    fc.assert(
      fc.property(text, (t) => onlyOpsErrors(() => parseInput(t))),
      { numRuns: 2_000 },
    );
  });

  it("every command's parse throws nothing but OpsErrors", () => {
    const flags = fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          'env',
          'reason',
          'to',
          'emergency',
          'ttl',
          'ref',
          'pr',
          'mine',
          'note',
          'severity',
          'dry-run',
        ),
        fc.string({ maxLength: 6 }),
      ),
      fc.oneof(
        fc.constant(true as const),
        fc.string({ maxLength: 20 }),
        fc.constantFrom('prod', 'staging', '0', '-3', '1.5', '4h', '999h'),
      ),
      { maxKeys: 5 },
    );
    const words = fc.array(fc.oneof(token, fc.string({ maxLength: 10 })), { maxLength: 5 });
    for (const command of commands) {
      fc.assert(
        fc.property(words, flags, (w, f) => onlyOpsErrors(() => command.parse({ words: w, flags: f }))),
        { numRuns: 300 },
      );
    }
  });

  it('acceptCommand never crashes, never queues outside the policy, and always answers in words', async () => {
    let n = 0;
    const kinds: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(text, user, fc.boolean(), async (t, who, incidentChannel) => {
        const recorded: Recorded = { commands: [], audits: [] };
        const ack: Ack = await acceptCommand(
          {
            config,
            jobs: recordingJobs(recorded),
            directory,
            clock: { now: () => 1_790_000_000_000 },
            commands,
            incidents: {
              lookup: async (channel) =>
                incidentChannel && channel === 'CINC'
                  ? {
                      repo: 'acme/incidents',
                      issue: 7,
                      labels: { env: 'staging' },
                      environment: 'staging',
                      deployment: 'api',
                    }
                  : undefined,
            },
          },
          {
            text: t,
            requester: who,
            channel: incidentChannel ? { id: 'CINC', name: 'inc-x' } : { id: 'COPS', name: 'ops' },
            deliveryId: `d-${n++}`,
          },
        );
        kinds[ack.kind] = (kinds[ack.kind] ?? 0) + 1;
        expect(ack.message.text.trim().length, t).toBeGreaterThan(0);
        expect(recorded.commands.length).toBeLessThanOrEqual(1);
        expect(ack.kind === 'queued', t).toBe(recorded.commands.length === 1);
        if (who.id === USERS.stranger.id) expect(recorded.commands, t).toHaveLength(0);
        if (ack.kind === 'denied') {
          expect(recorded.commands).toHaveLength(0);
          expect(recorded.audits.map((a) => a.outcome)).toEqual(['denied']);
        }
        for (const job of recorded.commands) expect(allowedByPolicy(job, who.id), t).toBe(true);
        if (ack.kind === 'invalid') expect(recorded.audits).toHaveLength(0);
      }),
      { numRuns: 1_500 },
    );
    // The generator must reach every branch, or the property proves little.
    for (const kind of ['queued', 'denied', 'invalid', 'reply'])
      expect(kinds[kind] ?? 0, JSON.stringify(kinds)).toBeGreaterThan(0);
  });

  it('finds no command for words that name none', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }), (words) => {
        const found = findCommand(words, commands);
        if (found)
          expect(found.command.name.split(' ').every((p, i) => words[i]?.toLowerCase() === p)).toBe(true);
      }),
    );
  });
});
