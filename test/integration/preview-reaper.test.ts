import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpsbotConfig } from '../../src/config/schema.js';
import type { AuditRecord } from '../../src/core/audit.js';
import type { Message } from '../../src/core/message.js';
import { previewAnnotations, previewLabels } from '../../src/core/preview.js';
import { KubeWorkspaces } from '../../src/kubernetes/workspaces.js';
import type { Chat } from '../../src/ports.js';
import { reapPreviews } from '../../src/preview/reaper.js';
import { type KubeApi, kubeClients, startKubeFake } from '../fakes/kubernetes.js';

const M = 60_000;
const START = Date.parse('2026-11-23T12:00:00Z');

const config = OpsbotConfig.parse({
  environments: { staging: { context: 'staging', namespace: 'apps' } },
  audit: { repo: 'acme/ops-audit' },
  preview: { environment: 'staging', template: 'runbooks/preview', host: '{{name}}.preview.test', ttl: '8h' },
});

class RecordingChat implements Chat {
  posts: { channel: string; message: Message }[] = [];
  async post(channel: string, message: Message) {
    this.posts.push({ channel, message });
    return { ts: String(this.posts.length) };
  }
  async update() {}
  async postEphemeral() {}
}

describe('the preview reaper, against the Kubernetes fake through client-node', () => {
  let kube: KubeApi;
  let workspaces: KubeWorkspaces;
  let chat: RecordingChat;
  let audits: AuditRecord[];
  let now: number;

  beforeAll(async () => {
    kube = await startKubeFake();
    workspaces = new KubeWorkspaces(kubeClients(kube, [{ name: 'staging' }], 'staging').kc);
  });
  afterAll(async () => {
    await kube?.close();
  });
  beforeEach(() => {
    chat = new RecordingChat();
    audits = [];
    now = START;
  });

  /** A preview as a previous bot process left it: nothing in Redis, only labels in the cluster. */
  function leftBehind(name: string, expiresAt: number, channel?: string) {
    const meta = {
      name,
      owner: { id: 'UDEV1', name: 'dana' },
      expiresAt,
      channel: channel ?? 'CDEV',
      url: `https://${name}.preview.test`,
    };
    kube.ensureNamespace(`preview-${name}`, previewLabels(meta));
    // ensureNamespace sets labels only; annotations go on through the API as the bot would.
    return workspaces.patchNamespace('staging', `preview-${name}`, { annotations: previewAnnotations(meta) });
  }

  const deps = () => ({
    config,
    workspaces,
    chat,
    jobs: {
      enqueueAudit: async (record: AuditRecord) => {
        audits.push(record);
        return { jobId: record.id, duplicate: false };
      },
    },
    clock: { now: () => now },
    log: pino({ level: 'silent' }),
  });

  it('finds previews by label after a restart, deletes the expired ones, and tells their owners', async () => {
    await leftBehind('old', START - M);
    await leftBehind('fresh', START + 5 * 60 * M);
    kube.ensureNamespace('preview-unmanaged', { 'opsbot.dev/preview': 'unmanaged' });
    kube.applyDeployment('preview-old', {
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'nginx:1' }] },
        },
      },
    });

    const result = await reapPreviews(deps());
    expect(result).toEqual({ expired: ['old'], warned: [] });
    const names = kube.namespaces().map((n) => n.metadata.name);
    expect(names).not.toContain('preview-old');
    expect(names).toContain('preview-fresh');
    expect(names).toContain('preview-unmanaged');
    expect(kube.getDeployment('preview-old', 'web')).toBeUndefined();
    expect(
      kube.requests.some(
        (r) =>
          r.method === 'GET' &&
          r.path === '/api/v1/namespaces' &&
          /managed-by/.test(r.query.labelSelector ?? ''),
      ),
    ).toBe(true);

    expect(chat.posts).toHaveLength(1);
    expect(chat.posts[0]?.channel).toBe('CDEV');
    expect(chat.posts[0]?.message.lines?.[0]).toContain('<@UDEV1> your preview *old* expired');
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({
      outcome: 'expired',
      action: 'env.expire',
      target: 'old',
      namespace: 'preview-old',
      environment: 'staging',
      requester: { id: 'UDEV1', name: 'dana' },
    });

    // A second pass finds nothing more to do.
    expect(await reapPreviews(deps())).toEqual({ expired: [], warned: [] });
  });

  it('warns once, warnBefore ahead, with an Extend button; a later expiry is warned again', async () => {
    await leftBehind('soon', START + 40 * M);
    now = START + 5 * M; // 35 minutes left: not yet
    expect((await reapPreviews(deps())).warned).toEqual([]);

    now = START + 15 * M; // 25 minutes left
    expect((await reapPreviews(deps())).warned).toEqual(['soon']);
    const warning = chat.posts.find((p) => p.message.text.startsWith('Preview soon expires'));
    expect(warning?.message.buttons).toEqual([
      { action: 'preview.extend', label: 'Extend by 8h', value: 'soon', style: 'primary' },
    ]);
    expect(
      kube.getObject('/api/v1/namespaces/preview-soon')?.metadata.annotations?.['opsbot.dev/warned-for'],
    ).toBe(String((START + 40 * M) / 1000));

    // The next pass, or a restarted bot, does not warn again for the same expiry.
    now = START + 16 * M;
    expect((await reapPreviews(deps())).warned).toEqual([]);

    // Extended (as /ops env extend writes it): warned again before the new expiry.
    await workspaces.patchNamespace('staging', 'preview-soon', {
      labels: { 'opsbot.dev/expires-at': String((START + 100 * M) / 1000) },
      annotations: { 'opsbot.dev/warned-for': null },
    });
    expect((await reapPreviews(deps())).warned).toEqual([]);
    now = START + 75 * M;
    expect((await reapPreviews(deps())).warned).toEqual(['soon']);

    now = START + 100 * M;
    expect((await reapPreviews(deps())).expired).toEqual(['soon']);
    expect(kube.getObject('/api/v1/namespaces/preview-soon')).toBeUndefined();
  });
});
