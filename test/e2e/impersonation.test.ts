import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { auditRecords, DEFAULT_CONFIG, slash, startWorld, USERS, type World } from '../helpers/world.js';

const OPSBOT_SA = 'system:serviceaccount:opsbot:opsbot';
const ALICE = 'alice@corp.example';

// staging acts as the requester; bob's Kubernetes name comes from the users map, alice's from Slack.
const CONFIG = `${DEFAULT_CONFIG.replace(
  'staging: { context: staging, namespace: apps }',
  'staging: { context: staging, namespace: apps, impersonate: { user: "{email}", groups: ["opsbot:{role}"] } }',
)}
users: { ${USERS.oncall2.id}: bob@corp.example }
rollout: { timeout: 20s, pollInterval: 1s }
`;

type Doc = { kind: string; metadata: { name: string }; subjects?: { kind: string }[] };
const manifests = (file: string) => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Doc);
const RBAC_KINDS = new Set(['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding']);

describe('acting as the requester in Kubernetes, checked first with a SubjectAccessReview', () => {
  let world: World;
  let bot: BotProcess;
  const impersonation = manifests('deploy/kubernetes/impersonation/rbac.yaml');
  const peopleBinding = impersonation.find(
    (d) => d.kind === 'RoleBinding' && d.metadata.name === 'opsbot-oncall',
  );

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG, kubeRbac: { user: OPSBOT_SA } });
    // opsbot's own rights, exactly as deploy/kubernetes ships them, minus the binding for people.
    for (const doc of [...manifests('deploy/kubernetes/rbac.yaml'), ...impersonation]) {
      if (RBAC_KINDS.has(doc.kind) && doc !== peopleBinding) world.kube.applyRbac(doc);
    }
    world.slack.addUser({ id: USERS.oncall.id, name: USERS.oncall.name, email: ALICE });
    bot = await startBotProcess(world.env);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  const jobOf = (text: string | undefined) => /job (cmd-[0-9a-f]+)/.exec(text ?? '')?.[1] ?? '';
  const recordOf = (jobId: string) =>
    world.github.waitFor(
      () => auditRecords(world).find((r) => r.jobId === jobId && r.outcome !== 'requested'),
      30_000,
    );
  const restartedAt = () =>
    (
      world.kube.getDeployment('apps', 'api') as {
        spec: { template: { metadata?: { annotations?: Record<string, string> } } };
      }
    ).spec.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'];

  it('refuses a restart that opsbot allows but the cluster does not, and changes nothing', async () => {
    const before = world.kube.requests.length;
    const ack = await slash(bot.url, world, 'restart api --env staging --reason "stuck workers"');
    const job = jobOf(ack.body.text);
    const record = await recordOf(job);
    const refusal =
      'denied by cluster RBAC: User "alice@corp.example" cannot patch resource "deployments" in API group "apps" in the namespace "apps" (groups: opsbot:oncall)';
    expect(record).toMatchObject({
      outcome: 'denied',
      action: 'restart',
      environment: 'staging',
      target: 'api',
      namespace: 'apps',
      message: refusal,
      actingAs: { user: ALICE, groups: ['opsbot:oncall'] },
    });

    const reply = await world.slack.waitFor(() =>
      world.slack.messages('COPS').find((m) => m.text === refusal && JSON.stringify(m.blocks).includes(job)),
    );
    expect(JSON.stringify(reply.blocks)).toContain('Nothing was changed.');

    const sent = world.kube.requests.slice(before);
    const review = sent.find((r) => r.path === '/apis/authorization.k8s.io/v1/subjectaccessreviews');
    expect(review?.impersonate).toBeUndefined();
    expect(review?.body).toMatchObject({
      kind: 'SubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      spec: {
        user: ALICE,
        groups: ['opsbot:oncall'],
        resourceAttributes: {
          namespace: 'apps',
          verb: 'patch',
          group: 'apps',
          resource: 'deployments',
          name: 'api',
        },
      },
    });
    // Nothing was sent as alice: the review came first and said no.
    expect(sent.filter((r) => r.impersonate)).toEqual([]);
    expect(restartedAt()).toBeUndefined();
  });

  it('allows the same request once a RoleBinding gives her group the rights, and acts as her', async () => {
    expect(peopleBinding).toBeDefined();
    world.kube.applyRbac(peopleBinding as object);
    const before = world.kube.requests.length;
    const ack = await slash(bot.url, world, 'restart api --env staging --reason "stuck workers"');
    const record = await recordOf(jobOf(ack.body.text));
    expect(record).toMatchObject({
      outcome: 'executed',
      action: 'restart',
      actingAs: { user: ALICE, groups: ['opsbot:oncall'] },
      rollout: { state: 'complete' },
    });
    expect(restartedAt()).toBeDefined();

    const sent = world.kube.requests.slice(before);
    const patch = sent.find(
      (r) => r.method === 'PATCH' && r.path === '/apis/apps/v1/namespaces/apps/deployments/api',
    );
    expect(patch?.impersonate).toEqual({ user: ALICE, groups: ['opsbot:oncall'] });
    // Every call of the job is made as her, the reads included; only the review is made as opsbot.
    const asOpsbot = sent.filter((r) => !r.impersonate && r.path !== '/version');
    expect(asOpsbot.map((r) => r.path)).toEqual(['/apis/authorization.k8s.io/v1/subjectaccessreviews']);
  });

  it('impersonates for read-only commands too, with the users map overriding the Slack email', async () => {
    const before = world.kube.requests.length;
    await slash(bot.url, world, 'status api --env staging', { user: USERS.oncall2 });
    await world.slack.waitFor(() =>
      world.slack.messages('COPS').find((m) => m.text?.startsWith('api in staging:')),
    );
    const reads = world.kube.requests
      .slice(before)
      .filter((r) => r.method === 'GET' && r.path !== '/version');
    expect(reads.length).toBeGreaterThan(0);
    for (const read of reads)
      expect(read.impersonate).toEqual({ user: 'bob@corp.example', groups: ['opsbot:oncall'] });
  });
});
