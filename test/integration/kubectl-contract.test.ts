/**
 * The Kubernetes fake, driven by the real kubectl from Debian's package: what users run by hand must
 * work against it as against an API server, or the bench's kubectl comparison and the fake's
 * claims mean nothing. kubectl sends its bearer token only over TLS, hence HTTPS here.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KubeApi, seedSampleApp, startKubeFake } from '../fakes/kubernetes.js';
import { selfSignedCert } from '../helpers/tls.js';

const run = promisify(execFile);
const REVISION = 'deployment.kubernetes.io/revision';

interface Dep {
  metadata: { annotations?: Record<string, string> };
  spec: {
    replicas: number;
    template: {
      metadata?: { annotations?: Record<string, string> };
      spec: { containers: { image: string }[] };
    };
  };
}

let kube: KubeApi;
let dir: string;
let kubeconfig: string;

/** kubectl as a user types it; the event loop stays free so the in-process fake can answer. */
async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run(
    'kubectl',
    ['--kubeconfig', kubeconfig, '-n', 'apps', '--request-timeout=10s', ...args],
    {
      encoding: 'utf8',
      timeout: 20_000,
    },
  );
  return stdout;
}

beforeAll(async () => {
  kube = await startKubeFake({ tls: selfSignedCert(), rolloutStepMs: 0 });
  seedSampleApp(kube, 'apps');
  dir = mkdtempSync(join(tmpdir(), 'opsbot-kubectl-'));
  kubeconfig = join(dir, 'kubeconfig');
  kube.writeKubeconfig(kubeconfig, [{ name: 'staging' }], 'staging');
});

afterAll(async () => {
  await kube.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('kubectl against the Kubernetes fake', () => {
  it('lists the rollout history with change causes', async () => {
    const out = await kubectl('rollout', 'history', 'deployment/api');
    expect(out).toMatch(/REVISION\s+CHANGE-CAUSE/);
    expect(out).toMatch(/^2\s+deploy api 1\.4\.1: fix session timeout$/m);
    expect(out).toMatch(/^3\s+deploy api 1\.5\.0: new billing endpoints$/m);
  });

  it('rolls back as kubectl rollout undo does: the previous template under a new revision', async () => {
    expect(await kubectl('rollout', 'undo', 'deployment/api')).toContain('deployment.apps/api rolled back');
    const dep = kube.getDeployment('apps', 'api') as unknown as Dep;
    expect(dep.spec.template.spec.containers[0]?.image).toBe('ghcr.io/acme/api:1.4.1');
    expect(dep.metadata.annotations?.[REVISION]).toBe('4');
    // Revision 2 became 4, so history no longer lists 2.
    expect(await kubectl('rollout', 'history', 'deployment/api')).not.toMatch(/^2\s/m);
  });

  it('scales through the scale subresource and restarts with the restartedAt annotation', async () => {
    expect(await kubectl('scale', 'deployment/web', '--replicas=3')).toContain('deployment.apps/web scaled');
    expect((kube.getDeployment('apps', 'web') as unknown as Dep).spec.replicas).toBe(3);
    expect(kube.requests.some((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/web/scale'))).toBe(
      true,
    );

    expect(await kubectl('rollout', 'restart', 'deployment/web')).toContain('deployment.apps/web restarted');
    const template = (kube.getDeployment('apps', 'web') as unknown as Dep).spec.template;
    expect(
      Date.parse(template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'] ?? ''),
    ).not.toBeNaN();
  });

  it('answers a wrong token with 401, which kubectl reports as not logged in', async () => {
    const bad = join(dir, 'bad-kubeconfig');
    const good = readFileSync(kubeconfig, 'utf8');
    expect(good).toContain(`token: ${kube.token}`);
    writeFileSync(bad, good.replace(`token: ${kube.token}`, 'token: wrong-token'));
    const failure = await run('kubectl', ['--kubeconfig', bad, '-n', 'apps', 'get', 'deployment', 'api'], {
      encoding: 'utf8',
      timeout: 20_000,
    }).then(
      () => undefined,
      (err: { code?: number; stderr?: string }) => err,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('You must be logged in to the server');
  });
});
