import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { IncidentService } from '../../src/alerts/incident-service.js';
import { MemoryIncidentStore } from '../../src/alerts/store.js';
import { OpsbotConfig } from '../../src/config/schema.js';
import type { AuditRecord } from '../../src/core/audit.js';
import { parseAssignments } from '../../src/core/runbook.js';
import { type Ack, acceptCommand } from '../../src/engine/accept-command.js';
import { createLogger } from '../../src/logger.js';
import { MemoryLocks } from '../../src/queue/memory-state.js';
import { commandsWith, parseRunbook } from '../helpers/registry.js';

/** User text names object keys in flags, runbook parameters and alert labels: none may reach Object.prototype. */
const CONFIG = OpsbotConfig.parse(
  parseYaml(`
environments:
  staging: { context: staging, namespace: apps }
roles:
  oncall:
    members: [UONCALL1]
    can:
      - { actions: [status, run, scale], environments: [staging] }
audit: { repo: acme/ops-audit }
incidents: { repo: acme/incidents, environmentMap: { production: staging } }
`),
);

const SCALE_OUT = parseRunbook(
  parseYaml(`
name: scale-out
description: Scale out under load
params:
  deployment: { type: deployment }
steps:
  - kind: scale
    deployment: "{{deployment}}"
    replicas: 4
`),
);

function send(text: string): Promise<Ack> {
  const audits: AuditRecord[] = [];
  return acceptCommand(
    {
      config: CONFIG,
      jobs: {
        enqueueCommand: async (job) => ({ jobId: job.id, duplicate: false }),
        enqueueAudit: async (record) => {
          audits.push(record);
          return { jobId: record.id, duplicate: false };
        },
        scheduleApprovalExpiry: async () => {},
      },
      directory: { userName: async (id) => id, groupsOf: async () => new Set() },
      clock: { now: () => 1_790_000_000_000 },
      commands: commandsWith([SCALE_OUT]),
    },
    { text, requester: { id: 'UONCALL1', name: 'alice' }, channel: { id: 'COPS' }, deliveryId: text },
  );
}

describe('flags named like Object.prototype members', () => {
  it('are unknown flags, not a crash of the ack', async () => {
    for (const flag of ['to-string', 'value-of', 'has-own-property', 'constructor', 'is-prototype-of']) {
      const ack = await send(`status api --env staging --${flag}`);
      expect(ack.kind, flag).toBe('invalid');
      expect(ack.message.text, flag).toBe(`Unknown flag --${flag}.`);
    }
  });

  it('are unknown to /ops run too, and a repeated flag is still caught', async () => {
    expect((await send('run scale-out deployment=api --env staging --to-string')).message.text).toBe(
      'Unknown flag --to-string.',
    );
    expect((await send('status api --env staging --value-of --value-of')).message.text).toBe(
      '--value-of is given more than once.',
    );
  });
});

describe('runbook parameters named like Object.prototype members', () => {
  it('are unknown parameters, never taken as declared or given twice', async () => {
    for (const key of ['constructor', 'hasownproperty', 'valueof']) {
      const ack = await send(`run scale-out deployment=api ${key}=1 --env staging`);
      expect(ack.kind, key).toBe('invalid');
      expect(ack.message.text, key).toBe(`scale-out has no parameter "${key}"; it takes deployment.`);
    }
    expect(parseAssignments(['constructor=1'])).toEqual({ constructor: '1' });
  });
});

describe('alert label values named like Object.prototype members', () => {
  it('name no environment', () => {
    const service = new IncidentService({
      config: CONFIG,
      store: new MemoryIncidentStore(),
      locks: new MemoryLocks(),
      clock: { now: () => 0 },
      log: createLogger('silent'),
      chat: undefined,
      issues: undefined,
      runbooks: [],
      syncQueue: () => ({ add: async () => ({ duplicate: false }) }),
      archiveQueue: () => ({ add: async () => ({ duplicate: false }) }),
    });
    for (const env of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(service.targetOf({ env }), env).toEqual({});
    }
    expect(service.targetOf({ env: 'production' })).toEqual({ environment: 'staging' });
    expect(service.targetOf({ env: 'staging' })).toEqual({ environment: 'staging' });
  });
});
