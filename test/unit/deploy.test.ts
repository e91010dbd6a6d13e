import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

type Doc = { kind: string; metadata: { name: string }; [key: string]: unknown };

function docs(file: string): Doc[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Doc);
}

const rbac = docs('deploy/kubernetes/rbac.yaml');
const app = docs('deploy/kubernetes/opsbot.yaml');

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

function allowed(group: string, resource: string, verb: string): boolean {
  return rbac
    .filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role')
    .flatMap((d) => d.rules as Rule[])
    .some((r) => r.apiGroups?.includes(group) && r.resources?.includes(resource) && r.verbs.includes(verb));
}

describe('deployment manifests', () => {
  it('grant exactly the Kubernetes calls opsbot makes, and no wildcards', () => {
    // src/kubernetes/cluster.ts: read/patch deployments, scale subresource, list ReplicaSets and pods.
    for (const [group, resource, verb] of [
      ['apps', 'deployments', 'get'],
      ['apps', 'deployments', 'patch'],
      ['apps', 'deployments/scale', 'get'],
      ['apps', 'deployments/scale', 'update'],
      ['apps', 'replicasets', 'list'],
      ['', 'pods', 'list'],
    ] as const) {
      expect(allowed(group, resource, verb), `${group}/${resource} ${verb}`).toBe(true);
    }
    const text = readFileSync('deploy/kubernetes/rbac.yaml', 'utf8');
    expect(text).not.toMatch(/["']\*["']/);
    expect(allowed('', 'secrets', 'get')).toBe(false);
    expect(allowed('apps', 'deployments', 'delete')).toBe(false);
  });

  it('run two non-root replicas with probes, a disruption budget and token Secrets', () => {
    const deployment = app.find((d) => d.kind === 'Deployment') as Doc & {
      // biome-ignore lint/suspicious/noExplicitAny: a manifest read back from YAML, probed field by field.
      spec: { replicas: number; template: { spec: Record<string, any> } };
    };
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.serviceAccountName).toBe('opsbot');
    const container = pod.containers[0];
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.envFrom[0].secretRef.name).toBe('opsbot');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(25);
    expect(app.find((d) => d.kind === 'PodDisruptionBudget')).toMatchObject({ spec: { minAvailable: 1 } });
    expect(app.find((d) => d.kind === 'Secret')).toBeDefined();
    expect(JSON.stringify(app.find((d) => d.kind === 'StatefulSet'))).toContain('--appendonly');
  });

  it('builds a multi-stage image that runs as an unprivileged user', () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    expect(dockerfile).toContain('npm prune --omit=dev');
  });

  it('leaves the sandbox cluster out of the image, after the build that compiled it', () => {
    // test/e2e/production-image.test.ts starts the bot from that layout with a kubeconfig.
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    const build = dockerfile.split(/^FROM /m)[1] ?? '';
    expect(build).toMatch(/^RUN npm run build && .*&& rm -rf dist\/src\/sandbox$/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
  });
});
