import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpsbotConfig } from '../../src/config/schema.js';
import { parseYamlText } from '../../src/config/yaml-file.js';
import type { AuditRecord } from '../../src/core/audit.js';
import type { Message } from '../../src/core/message.js';
import type { Checkpoint, RunContext } from '../../src/engine/command-module.js';
import { resolveTarget } from '../../src/engine/run-command.js';
import { KubeCluster } from '../../src/kubernetes/cluster.js';
import { type KubeApi, seedSampleApp, startKubeFake } from '../fakes/kubernetes.js';
import { parseRunbook, runWith } from '../helpers/registry.js';

const config = parseYamlText(
  `
environments:
  staging: { context: staging, namespace: apps }
audit: { repo: acme/audit }
rollout: { timeout: 10s, pollInterval: 1s }
`,
  'opsbot.yml',
  OpsbotConfig,
);

const runbook = parseRunbook({
  name: 'restart-and-scale',
  description: 'restart, scale, say so',
  params: { deployment: { type: 'deployment' } },
  steps: [
    { kind: 'restart', deployment: '{{deployment}}' },
    { kind: 'scale', deployment: '{{deployment}}', replicas: 5 },
    { kind: 'message', text: 'done' },
  ],
});

describe('a runbook job retried after a crash', () => {
  let kube: KubeApi;
  let cluster: KubeCluster;

  beforeAll(async () => {
    kube = await startKubeFake({ rolloutStepMs: 0 });
    seedSampleApp(kube, 'apps');
    const kc = new KubeConfig();
    kc.loadFromString(kube.kubeconfigYaml([{ name: 'staging' }], 'staging'));
    cluster = new KubeCluster(kc);
  });
  afterAll(async () => {
    await kube?.close();
  });

  it('never repeats a finished step, nor the effect of a step interrupted after it applied', async () => {
    const command = runWith([runbook]);
    const args = command.parse({ words: ['restart-and-scale', 'deployment=api'], flags: { env: 'staging' } });
    // What survives between attempts, as the queue keeps it.
    const saved = new Map<string, unknown>();
    const checkpoint: Checkpoint = {
      get: <T>(key: string) => saved.get(key) as T | undefined,
      async set(key, value) {
        saved.set(key, value);
      },
    };
    const audited: AuditRecord['id'][] = [];
    const messages: Message[] = [];
    let failAuditOf: string | undefined = '-step2';
    const ctx: RunContext = {
      job: {
        id: 'cmd-retry',
        command: 'run',
        input: { words: [], flags: {} },
        requester: { id: 'U1' },
        channel: { id: 'C1' },
        requestedAt: 0,
        stage: 'run',
      },
      config,
      services: undefined,
      cluster,
      clock: { now: () => Date.now() },
      target: (env) => resolveTarget(config, env),
      progress: async (msg) => {
        messages.push(msg);
      },
      checkpoint,
      attempt: { number: 1, last: false },
      failpoint: () => {},
      expectUnchanged: () => {},
      async audit(record) {
        // The worker dies (Redis gone) right after the scale was applied, before step 2 is recorded.
        if (failAuditOf && record.id.endsWith(failAuditOf)) throw new Error('connection lost');
        audited.push(record.id);
      },
    };
    const writes = () =>
      kube.requests.filter(
        (r) =>
          (r.method === 'PATCH' || r.method === 'PUT') &&
          r.path.includes('/deployments/api') &&
          !r.query.dryRun,
      );

    await expect(command.run!(ctx, args)).rejects.toThrow('connection lost');
    expect(writes().map((r) => r.method)).toEqual(['PATCH', 'PUT']);
    expect(audited).toEqual(['cmd-retry-step1']);

    failAuditOf = undefined;
    const outcome = await command.run!(ctx, args);
    expect(outcome.outcome).toBe('executed');
    expect(outcome.message.text).toBe('restart-and-scale finished: 3 of 3 steps done.');
    // The restart was not sent again, and the scale found its work done.
    expect(writes().map((r) => r.method)).toEqual(['PATCH', 'PUT']);
    expect(audited).toEqual(['cmd-retry-step1', 'cmd-retry-step2', 'cmd-retry-step3']);
    expect((kube.getDeployment('apps', 'api') as { spec: { replicas: number } }).spec.replicas).toBe(5);
  });

  it('waits behind a command holding the target lock, without doing anything first', async () => {
    const command = runWith([runbook]);
    const args = command.parse({ words: ['restart-and-scale', 'deployment=web'], flags: { env: 'staging' } });
    const saved = new Map<string, unknown>();
    let held = true;
    const keys: string[] = [];
    const ctx: RunContext = {
      job: {
        id: 'cmd-locked',
        command: 'run',
        input: { words: [], flags: {} },
        requester: { id: 'U1' },
        channel: { id: 'C1' },
        requestedAt: 0,
        stage: 'run',
      },
      config,
      services: undefined,
      cluster,
      clock: { now: () => Date.now() },
      target: (env) => resolveTarget(config, env),
      progress: async () => {},
      checkpoint: {
        get: <T>(key: string) => saved.get(key) as T | undefined,
        async set(key, value) {
          saved.set(key, value);
        },
      },
      attempt: { number: 1, last: false },
      failpoint: () => {},
      expectUnchanged: () => {},
      async lock(key) {
        keys.push(key);
        return held
          ? { acquired: false, heldBy: 'rollback web in staging by @bob' }
          : { acquired: true, release: async () => {}, lost: () => false };
      },
    };
    const writes = () =>
      kube.requests.filter(
        (r) => r.path.includes('/deployments/web') && r.method !== 'GET' && !r.query.dryRun,
      );

    await expect(command.run!(ctx, args)).rejects.toMatchObject({ code: 'busy', retryable: true });
    expect(writes()).toEqual([]);
    held = false;
    expect((await command.run!(ctx, args)).outcome).toBe('executed');
    expect(keys).toEqual(['staging/web', 'staging/web', 'staging/web']);
    expect(writes().map((r) => r.method)).toEqual(['PATCH', 'PUT']);
  });

  it('retries a step that failed transiently as the command would, and runs onFailure only on a final failure', async () => {
    const withFallback = parseRunbook({
      ...runbook,
      name: 'restart-with-fallback',
      onFailure: [{ kind: 'message', text: 'fallback ran' }],
    });
    const command = runWith([withFallback]);
    const args = command.parse({
      words: ['restart-with-fallback', 'deployment=worker'],
      flags: { env: 'staging' },
    });
    const saved = new Map<string, unknown>();
    const audited: string[] = [];
    const ctx = (attempt: number, last: boolean): RunContext => ({
      job: {
        id: 'cmd-transient',
        command: 'run',
        input: { words: [], flags: {} },
        requester: { id: 'U1' },
        channel: { id: 'C1' },
        requestedAt: 0,
        stage: 'run',
      },
      config,
      services: undefined,
      cluster,
      clock: { now: () => Date.now() },
      target: (env) => resolveTarget(config, env),
      progress: async () => {},
      checkpoint: {
        get: <T>(key: string) => saved.get(key) as T | undefined,
        async set(key, value) {
          saved.set(key, value);
        },
      },
      attempt: { number: attempt, last },
      failpoint: () => {},
      expectUnchanged: () => {},
      async audit(record) {
        audited.push(`${record.id}:${record.outcome}`);
      },
    });
    // One 503 on the restart's PATCH: Kubernetes was briefly unavailable, nothing was applied.
    kube.failNext({ method: 'PATCH', path: /\/deployments\/worker$/, status: 503 });
    await expect(command.run!(ctx(1, false), args)).rejects.toMatchObject({ retryable: true });
    expect(audited, 'no step is recorded as failed, onFailure does not run').toEqual([]);

    const outcome = await command.run!(ctx(2, false), args);
    expect(outcome.outcome).toBe('executed');
    expect(outcome.message.text).toBe('restart-with-fallback finished: 3 of 3 steps done.');
    expect(audited).toEqual([
      'cmd-transient-step1:executed',
      'cmd-transient-step2:executed',
      'cmd-transient-step3:executed',
    ]);

    // On the last attempt the same fault is final: the step fails and onFailure runs.
    saved.clear();
    audited.length = 0;
    kube.failNext({ method: 'PATCH', path: /\/deployments\/worker$/, status: 503 });
    const last = await command.run!(ctx(5, true), args);
    expect(last.outcome).toBe('failed');
    expect(audited).toEqual(['cmd-transient-step1:failed', 'cmd-transient-fail1:executed']);
  });
});
