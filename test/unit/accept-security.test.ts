import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { OpsbotConfig } from '../../src/config/schema.js';
import type { AuditRecord } from '../../src/core/audit.js';
import type { CommandJobInput } from '../../src/core/command-job.js';
import { type AcceptDeps, type Ack, acceptCommand } from '../../src/engine/accept-command.js';
import type { Directory, IncidentContext, Jobs } from '../../src/ports.js';
import { commandsWith, parseRunbook } from '../helpers/registry.js';

const CONFIG = OpsbotConfig.parse(
  parseYaml(`
environments:
  staging: { context: staging, namespace: apps }
  prod: { context: prod, namespace: apps, protected: true, scale: { min: 2, max: 50 }, channels: ["#ops", incident] }
roles:
  oncall:
    members: [UONCALL1, "@sre-oncall"]
    can:
      - { actions: [rollback, restart, scale, status, history, run, incident.resolve], environments: [staging, prod] }
    approve: [prod]
  developer:
    members: [UDEV1]
    can:
      - { actions: [status, restart, run, incident.resolve], environments: [staging] }
audit: { repo: acme/ops-audit }
incidents: { repo: acme/incidents }
`),
);

const SCALE_OUT = parseRunbook(
  parseYaml(`
name: scale-out
description: Scale out under load
params:
  deployment: { type: deployment }
  replicas: { type: int, default: 6, allowed: [4, 6, 8] }
steps:
  - kind: scale
    deployment: "{{deployment}}"
    replicas: "{{replicas}}"
`),
);

const ONCALL = { id: 'UONCALL1', name: 'alice' };
const DEVELOPER = { id: 'UDEV1', name: 'dana' };
const STRANGER = { id: 'USTRANGER', name: 'sam' };
const OPS = { id: 'COPS', name: 'ops' };

function incident(environment: string | undefined): IncidentContext {
  return {
    repo: 'acme/incidents',
    issue: 7,
    labels: environment ? { env: environment } : {},
    ...(environment ? { environment } : {}),
    deployment: 'api',
  };
}

interface World {
  commands: CommandJobInput[];
  audits: AuditRecord[];
  deps: AcceptDeps;
  send(
    text: string,
    who?: { id: string; name: string },
    channel?: { id: string; name: string },
  ): Promise<Ack>;
}

function world(options: { incidents?: Record<string, IncidentContext>; directory?: Directory } = {}): World {
  const commands: CommandJobInput[] = [];
  const audits: AuditRecord[] = [];
  const jobs: Jobs = {
    enqueueCommand: async (job) => {
      commands.push(job);
      return { jobId: job.id, duplicate: false };
    },
    enqueueAudit: async (record) => {
      audits.push(record);
      return { jobId: record.id, duplicate: false };
    },
    scheduleApprovalExpiry: async () => {},
  };
  const deps: AcceptDeps = {
    config: CONFIG,
    jobs,
    directory: options.directory ?? { userName: async (id) => id, groupsOf: async () => new Set() },
    clock: { now: () => 1_790_000_000_000 },
    commands: commandsWith([SCALE_OUT]),
    incidents: { lookup: async (channel) => options.incidents?.[channel] },
  };
  let n = 0;
  return {
    commands,
    audits,
    deps,
    send: (text, who = ONCALL, channel = OPS) =>
      acceptCommand(deps, { text, requester: who, channel, deliveryId: `d-${n++}` }),
  };
}

describe('permission before validation', () => {
  it('denies a user without a role before runbook names, parameters or scale bounds are shown, and audits it', async () => {
    const w = world();
    const cases = [
      'run no-such-runbook --env staging',
      'run scale-out --env staging',
      'run scale-out deployment=api replicas=5 --env staging',
      'scale api 99 --env prod --reason "way too many"',
    ];
    for (const text of cases) {
      const ack = await w.send(text, STRANGER);
      expect(ack.kind, text).toBe('denied');
      expect(ack.message.text, text).toMatch(/^Denied: (run|scale) in (staging|prod) needs role/);
      for (const secret of ['scale-out', 'deployment=', 'replicas', '2 and 50'])
        expect(JSON.stringify(ack.message), text).not.toContain(`${secret} is`);
      expect(JSON.stringify(ack.message)).not.toMatch(/Known:|allows between|needs deployment/);
    }
    expect(w.audits.map((a) => [a.outcome, a.action, a.environment])).toEqual([
      ['denied', 'run', 'staging'],
      ['denied', 'run', 'staging'],
      ['denied', 'run', 'staging'],
      ['denied', 'scale', 'prod'],
    ]);
    expect(w.audits[3]).toMatchObject({ target: 'api', reason: 'way too many' });
    expect(w.commands).toHaveLength(0);
  });

  it('lists known environments only to someone who may use them', async () => {
    const w = world();
    expect((await w.send('rollback api --env qa', ONCALL)).message.text).toBe(
      'There is no environment "qa". Known: staging, prod.',
    );
    expect((await w.send('rollback api --env qa', STRANGER)).message.text).toBe(
      'There is no environment "qa".',
    );
  });

  it('still validates for those who hold the permission', async () => {
    const w = world();
    const bounds = await w.send('scale api 99 --env prod --reason "way too many"');
    expect(bounds.message.text).toBe('prod allows between 2 and 50 replicas; 99 is outside that.');
    const params = await w.send('run scale-out --env staging', DEVELOPER);
    // Escaped for Slack, where a bare <…> would be read as a link.
    expect(params.message.text).toMatch(/scale-out needs deployment=&lt;deployment&gt;/);
  });
});

describe('incident channels', () => {
  const channels = { CSTAGINC: incident('staging'), CPRODINC: incident('prod'), CNOENV: incident(undefined) };
  const stagingInc = { id: 'CSTAGINC', name: 'inc-staging' };
  const prodInc = { id: 'CPRODINC', name: 'inc-prod' };

  it("count as 'incident' only for their own environment", async () => {
    const w = world({ incidents: channels });
    const fromStaging = await w.send('restart api --env prod --reason "stuck pods"', ONCALL, stagingInc);
    expect(fromStaging.kind).toBe('denied');
    expect(fromStaging.message.text).toBe('Denied: prod actions may only be taken from #ops, incident.');
    const fromProd = await w.send('restart api --env prod --reason "stuck pods"', ONCALL, prodInc);
    expect(fromProd.kind).toBe('queued');
    expect(w.commands[0]?.channel).toMatchObject({ isIncident: true, incidentEnvironment: 'prod' });
  });

  it("resolve is authorized against the incident's environment, whatever --env says", async () => {
    const w = world({ incidents: channels });
    const widened = await w.send('incident resolve --env staging', DEVELOPER, prodInc);
    expect(widened.kind).toBe('invalid');
    expect(widened.message.text).toBe(
      "This channel's incident is in prod; --env cannot name another environment.",
    );
    const plain = await w.send('incident resolve --note "fixed it"', DEVELOPER, prodInc);
    expect(plain.kind).toBe('denied');
    expect(plain.message.text).toMatch(/^Denied: incident\.resolve in prod needs role oncall/);
    expect(w.commands).toHaveLength(0);
    expect(w.audits.map((a) => [a.outcome, a.environment])).toEqual([['denied', 'prod']]);

    const own = await w.send('incident resolve', DEVELOPER, stagingInc);
    expect(own.kind).toBe('queued');
    expect(w.commands[0]?.input.flags.env).toBe('staging');
  });

  it('resolve is refused outside an incident channel, and for an incident that names no environment', async () => {
    const w = world({ incidents: channels });
    expect((await w.send('incident resolve --env staging', DEVELOPER)).message.text).toMatch(
      /this channel has no incident/,
    );
    expect((await w.send('incident resolve', ONCALL, { id: 'CNOENV', name: 'inc-x' })).message.text).toMatch(
      /This incident names no environment/,
    );
    expect(w.commands).toHaveLength(0);
  });
});

describe('user groups that could not be checked', () => {
  it('grant nothing, and the denial says why', async () => {
    const w = world({
      directory: {
        userName: async (id) => id,
        groupsOf: async () => new Set(),
        groupsUnavailable: () => 'your Slack user groups could not be checked just now',
      },
    });
    const ack = await w.send('status api --env staging', { id: 'UBOB', name: 'bob' });
    expect(ack.kind).toBe('denied');
    expect(ack.message.text).toMatch(
      /needs role oncall or developer, which you do not hold \(your Slack user groups could not be checked just now\)/,
    );
  });
});
