import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { OpsbotConfig } from '../../src/config/schema.js';
import { type AcceptDeps, acceptCommand } from '../../src/engine/accept-command.js';
import { bindCommand } from '../../src/engine/command-module.js';
import { features } from '../../src/features.js';
import { localConfig } from '../../src/local/local-config.js';
import { MemoryBackend } from '../../src/queue/memory-backend.js';
import { createJobs } from '../../src/queue/queues.js';
import { silentLog } from '../helpers/fake-ports.js';
import { kinds, parseRunbook } from '../helpers/registry.js';

const SCALE_OUT = parseRunbook(
  parseYaml(`
name: scale-out
description: Scale out under load
params:
  deployment: { type: deployment, description: the deployment under load }
  replicas: { type: int, default: 6, allowed: [4, 6, 8] }
steps:
  - { kind: scale, deployment: "{{deployment}}", replicas: "{{replicas}}" }
`),
);
const ROLL_BACK = parseRunbook(
  parseYaml(`
name: roll-back
description: Roll back after a bad deploy
params:
  deployment: { type: deployment }
steps:
  - { kind: rollback, deployment: "{{deployment}}" }
`),
);

const ALICE = { id: 'UALICE', name: 'alice' };
const SHELL = { id: 'CSHELL', name: 'shell' };

/**
 * The ack path as main.ts builds it over a real (in-process) queue: cluster verbs and runbooks on,
 * and the features this config leaves out marked unavailable, as they are when opsbot.yml omits them.
 */
function bot(config: OpsbotConfig) {
  const backend = new MemoryBackend(silentLog);
  const commands = features.flatMap((feature) =>
    feature.commands.map((command) =>
      feature.name === 'runbooks'
        ? bindCommand(command, { services: { runbooks: [SCALE_OUT, ROLL_BACK], kinds } })
        : feature.name === 'cluster'
          ? bindCommand(command, { services: undefined })
          : bindCommand(command, { unavailable: feature.off }),
    ),
  );
  const deps: AcceptDeps = {
    config,
    jobs: createJobs(backend),
    directory: { userName: async (id) => id, groupsOf: async () => new Set() },
    clock: { now: () => 1_790_000_000_000 },
    commands,
  };
  let n = 0;
  return {
    backend,
    send: (text: string, who = ALICE) =>
      acceptCommand(deps, { text, requester: who, channel: SHELL, deliveryId: `d-${n++}` }),
    /** Every job in every queue, whatever its state. */
    queued: async () =>
      Object.values(await backend.counts()).reduce(
        (sum, states) => sum + Object.values(states).reduce((a, b) => a + b, 0),
        0,
      ),
  };
}

/** The shell's built-in config without previews and incidents: what a bare opsbot.yml turns on. */
function withoutFeatures(): OpsbotConfig {
  const { preview: _preview, incidents: _incidents, ...config } = localConfig(ALICE.id);
  return config as OpsbotConfig;
}

let open: MemoryBackend[] = [];
afterEach(async () => {
  for (const backend of open) await backend.close();
  open = [];
});

describe('a command that cannot run here is refused in the ack, and nothing is queued', () => {
  it.each([
    [
      'incident declare "db is down" --severity sev1',
      'Incidents are not set up here (opsbot.yml has no incidents: section).',
    ],
    ['incident resolve', 'Incidents are not set up here (opsbot.yml has no incidents: section).'],
    [
      'env open feature-x --pr 12',
      'Preview environments are not set up here (opsbot.yml has no preview: section).',
    ],
    [
      'run no-such-runbook --env staging',
      'There is no runbook "no-such-runbook". Known: scale-out, roll-back.',
    ],
    [
      'run scale-out --env staging',
      'scale-out needs deployment=&lt;deployment&gt; (the deployment under load).',
    ],
  ])('/ops %s', async (text, said) => {
    const b = bot(withoutFeatures());
    open.push(b.backend);
    const ack = await b.send(text);
    expect(ack.kind).toBe('invalid');
    expect(ack.jobId).toBeUndefined();
    expect(ack.message.text).toBe(said);
    expect(await b.queued()).toBe(0);
  });

  it('queues a command that can run, so the queue assertion above can see one', async () => {
    const b = bot(withoutFeatures());
    open.push(b.backend);
    const ack = await b.send('run scale-out deployment=api --env staging');
    expect(ack.kind).toBe('queued');
    expect(await b.queued()).toBe(1);
  });
});

describe('/ops run with no runbook', () => {
  it('lists the runbooks the user may run, where, and with their parameters, and queues nothing', async () => {
    const config = localConfig(ALICE.id);
    // A scaler may scale but not roll back: roll-back is not offered to them.
    config.roles.scaler = {
      members: ['USCALER'],
      can: [{ actions: ['run', 'scale'], environments: ['staging'] }],
      approve: [],
      emergency: [],
    };
    const b = bot(config);
    open.push(b.backend);

    const mine = await b.send('run');
    expect(mine.kind).toBe('reply');
    expect(mine.message.lines).toEqual([
      '*Runbooks you may run:*',
      '• `scale-out` — Scale out under load (in staging, prod)',
      '    `deployment=` (deployment; required): the deployment under load',
      '    `replicas=` (int; default 6; one of 4, 6, 8)',
      '• `roll-back` — Roll back after a bad deploy (in staging, prod)',
      '    `deployment=` (deployment; required)',
      'Usage: `/ops run <runbook> [key=value ...] --env <env> [--dry-run] [--reason "<text>"]`',
    ]);

    const scaler = await b.send('run', { id: 'USCALER', name: 'sam' });
    expect(scaler.message.lines?.slice(1, -1)).toEqual([
      '• `scale-out` — Scale out under load (in staging)',
      '    `deployment=` (deployment; required): the deployment under load',
      '    `replicas=` (int; default 6; one of 4, 6, 8)',
    ]);

    const stranger = await b.send('run', { id: 'USTRANGER', name: 'eve' });
    expect(stranger.message.text).toBe('There is no runbook you may run here.');
    expect(await b.queued()).toBe(0);
  });
});

describe('the built-in local config', () => {
  it('names its role for what it is in a denial', async () => {
    const b = bot(localConfig(ALICE.id));
    open.push(b.backend);
    const ack = await b.send('rollback api --env staging', { id: 'USTRANGER', name: 'eve' });
    expect(ack.message.text).toBe(
      'Denied: rollback in staging needs role local-operator, which you do not hold.',
    );
  });
});
