import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { readEnv } from '../../src/config/env.js';

type Doc = { kind: string; metadata: { name: string }; [key: string]: unknown };

function docs(file: string): Doc[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Doc);
}

const rbac = docs('deploy/kubernetes/rbac.yaml');
const app = docs('deploy/kubernetes/opsbot.yaml');
const redis = docs('deploy/kubernetes/redis.yaml');

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
    // src/kubernetes/cluster.ts: read/patch deployments, scale subresource, list ReplicaSets and pods;
    // src/kubernetes/watch-cache.ts: list and watch deployments and ReplicaSets.
    for (const [group, resource, verb] of [
      ['apps', 'deployments', 'get'],
      ['apps', 'deployments', 'list'],
      ['apps', 'deployments', 'watch'],
      ['apps', 'replicasets', 'watch'],
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

  it('parse as YAML into the expected kinds', () => {
    expect(app.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Namespace/opsbot',
      'Secret/opsbot',
      'ConfigMap/opsbot-config',
      'ConfigMap/opsbot-redis',
      'Deployment/opsbot-web',
      'PodDisruptionBudget/opsbot-web',
      'Deployment/opsbot-worker',
      'PodDisruptionBudget/opsbot-worker',
      'Service/opsbot',
    ]);
    expect(redis.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'ConfigMap/opsbot-redis-scripts',
      'StatefulSet/opsbot-redis',
      'Service/opsbot-redis',
      'PodDisruptionBudget/opsbot-redis',
    ]);
  });

  it('run web and worker as separately scalable non-root Deployments with probes and token Secrets', () => {
    type Deployment = Doc & {
      // biome-ignore lint/suspicious/noExplicitAny: a manifest read back from YAML, probed field by field.
      spec: { replicas: number; selector: any; template: { metadata: any; spec: Record<string, any> } };
    };
    const deployment = (name: string) =>
      app.find((d) => d.kind === 'Deployment' && d.metadata.name === name) as Deployment;
    for (const [name, mode] of [
      ['opsbot-web', 'web'],
      ['opsbot-worker', 'worker'],
    ] as const) {
      const d = deployment(name);
      expect(d.spec.replicas, name).toBe(2);
      expect(d.spec.template.metadata.labels['app.kubernetes.io/component'], name).toBe(mode);
      expect(d.spec.selector.matchLabels['app.kubernetes.io/component'], name).toBe(mode);
      const pod = d.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.serviceAccountName).toBe('opsbot');
      const container = pod.containers[0];
      // The image's entrypoint is `node dist/src/cli.js`.
      expect(container.args, name).toEqual([mode]);
      expect(container.command, name).toBeUndefined();
      expect(container.readinessProbe.httpGet.path).toBe('/readyz');
      expect(container.livenessProbe.httpGet.path).toBe('/healthz');
      expect(container.envFrom).toEqual([
        { secretRef: { name: 'opsbot' } },
        { configMapRef: { name: 'opsbot-redis' } },
      ]);
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(25);
      const pdb = app.find((x) => x.kind === 'PodDisruptionBudget' && x.metadata.name === name);
      expect(pdb, name).toMatchObject({ spec: { minAvailable: 1, selector: d.spec.selector } });
    }
    expect(app.find((d) => d.kind === 'Service')).toMatchObject({
      spec: { selector: { 'app.kubernetes.io/component': 'web' } },
    });
    expect(app.find((d) => d.kind === 'Secret')).toBeDefined();
  });

  it('wire Redis through Sentinel, with settings opsbot accepts', () => {
    const settings = app.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'opsbot-redis') as Doc & {
      data: Record<string, string>;
    };
    const env = readEnv(settings.data);
    expect(env.REDIS_SENTINEL_NAME).toBe('opsbot');
    const statefulSet = redis.find((d) => d.kind === 'StatefulSet') as Doc & {
      // biome-ignore lint/suspicious/noExplicitAny: a manifest read back from YAML, probed field by field.
      spec: { replicas: number; serviceName: string; template: { spec: Record<string, any> } };
    };
    expect(env.REDIS_SENTINELS).toEqual(
      [0, 1, 2].map((i) => ({ host: `opsbot-redis-${i}.${statefulSet.spec.serviceName}`, port: 26379 })),
    );
    expect(statefulSet.spec.replicas).toBe(3);
    const containers = statefulSet.spec.template.spec.containers.map((c: { name: string }) => c.name);
    expect(containers).toEqual(['redis', 'sentinel']);
    const scripts = (redis.find((d) => d.kind === 'ConfigMap') as Doc & { data: Record<string, string> })
      .data;
    expect(scripts['redis.sh']).toContain('--appendonly yes');
    expect(scripts['sentinel.sh']).toContain(`sentinel monitor ${env.REDIS_SENTINEL_NAME} $master 6379 2`);
  });

  it('builds a multi-stage image that runs as an unprivileged user', () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    expect(dockerfile).toContain('npm prune --omit=dev');
  });

  it('copies into the build stage every script that npm run build runs', () => {
    const build = readFileSync('Dockerfile', 'utf8').split(/^FROM /m)[1] ?? '';
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    const scripts = [...(pkg.scripts.build ?? '').matchAll(/\bnode (\S+)/g)].map((m) => m[1] ?? '');
    expect(scripts).toContain('scripts/build.mjs');
    for (const script of scripts) {
      const dir = script.split('/')[0] ?? '';
      expect(build).toMatch(new RegExp(`^COPY ${dir} ${dir}$`, 'm'));
    }
  });

  it('leaves the sandbox cluster out of the image, after the build that compiled it', () => {
    // test/e2e/production-image.test.ts starts the bot from that layout with a kubeconfig.
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    const build = dockerfile.split(/^FROM /m)[1] ?? '';
    expect(build).toMatch(/^RUN npm run build && .*&& rm -rf dist\/src\/sandbox$/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
  });
});
