/** The sample app seeded into the sandbox: deployments with the rollout history a real controller leaves. */
import type { KubeApi } from './kube-api.js';

interface SampleRevision {
  image: string;
  changeCause: string;
}

interface SampleApp {
  name: string;
  replicas: number;
  revisions: SampleRevision[];
}

/** Three deployments with a history worth rolling back through. */
const SAMPLE_APPS: SampleApp[] = [
  {
    name: 'api',
    replicas: 3,
    revisions: [
      { image: 'ghcr.io/acme/api:1.4.0', changeCause: 'deploy api 1.4.0' },
      { image: 'ghcr.io/acme/api:1.4.1', changeCause: 'deploy api 1.4.1: fix session timeout' },
      { image: 'ghcr.io/acme/api:1.5.0', changeCause: 'deploy api 1.5.0: new billing endpoints' },
    ],
  },
  {
    name: 'worker',
    replicas: 2,
    revisions: [
      { image: 'ghcr.io/acme/worker:2.0.0', changeCause: 'deploy worker 2.0.0' },
      { image: 'ghcr.io/acme/worker:2.1.0', changeCause: 'deploy worker 2.1.0: faster queue drain' },
    ],
  },
  {
    name: 'web',
    replicas: 2,
    revisions: [{ image: 'ghcr.io/acme/web:3.2.0', changeCause: 'deploy web 3.2.0' }],
  },
];

function sampleManifest(app: SampleApp, revision: SampleRevision): object {
  const labels = { app: app.name, 'app.kubernetes.io/part-of': 'acme' };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: app.name, labels, annotations: { 'kubernetes.io/change-cause': revision.changeCause } },
    spec: {
      replicas: app.replicas,
      selector: { matchLabels: { app: app.name } },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: app.name,
              image: revision.image,
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [{ name: 'LOG_LEVEL', value: 'info' }],
            },
          ],
        },
      },
    },
  };
}

/**
 * Seeds the sample app: every revision is applied in turn and its rollout finished at once, so the
 * ReplicaSets and revision annotations are exactly what the deployment controller leaves on a real cluster.
 */
export function seedSampleApp(api: KubeApi, namespace = 'apps'): void {
  api.ensureNamespace(namespace);
  for (const app of SAMPLE_APPS) {
    for (const revision of app.revisions)
      api.applyDeployment(namespace, sampleManifest(app, revision), { settle: true });
  }
}
