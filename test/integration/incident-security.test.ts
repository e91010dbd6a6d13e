import { Octokit } from '@octokit/rest';
import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentService } from '../../src/alerts/incident-service.js';
import { AlertmanagerWebhook, fromAlertmanager } from '../../src/alerts/sources/alertmanager/index.js';
import { MemoryIncidentStore } from '../../src/alerts/store.js';
import { OpsbotConfig } from '../../src/config/schema.js';
import type { AlertGroup } from '../../src/core/alert.js';
import { GitHubIssueTracker } from '../../src/github/issue-tracker.js';
import { createLogger } from '../../src/logger.js';
import { RetryLater } from '../../src/queue/backend.js';
import { MemoryLocks } from '../../src/queue/memory-state.js';
import { SlackIncidentChat } from '../../src/slack/incident-chat.js';
import { type GitHubFake, startGitHubFake } from '../fakes/github.js';
import { type SlackFake, startSlackFake } from '../fakes/slack.js';
import { alertFixture, INCIDENT_REPO } from '../helpers/alerts.js';

const ZWJ = '\u200d';

function setup(slackFake: SlackFake, github: GitHubFake) {
  const config = OpsbotConfig.parse({
    environments: { prod: { context: 'prod', namespace: 'apps' } },
    audit: { repo: 'acme/ops-audit' },
    incidents: { repo: INCIDENT_REPO },
  });
  let now = Date.parse('2026-11-23T10:00:00Z');
  const syncs: string[] = [];
  const store = new MemoryIncidentStore();
  const service = new IncidentService({
    config,
    store,
    locks: new MemoryLocks(),
    clock: { now: () => now },
    log: createLogger('silent'),
    chat: new SlackIncidentChat(
      new WebClient('xoxb-sec', { slackApiUrl: slackFake.url, retryConfig: { retries: 0 } }),
    ),
    issues: new GitHubIssueTracker(new Octokit({ auth: 'ghp_sec', baseUrl: github.url })),
    runbooks: [],
    syncQueue: () => ({
      add: async (_id, data) => {
        syncs.push(data.id);
        return { duplicate: false };
      },
    }),
    archiveQueue: () => ({ add: async () => ({ duplicate: false }) }),
  });
  const drain = async () => {
    for (let i = 0; syncs.length > 0 && i < 100; i++) {
      now += 1_200;
      try {
        await service.sync(syncs.shift()!, `t${i}`);
      } catch (err) {
        if (!(err instanceof RetryLater)) throw err;
      }
    }
  };
  return { service, store, drain };
}

type Payload = {
  groupKey: string;
  alerts: Record<string, unknown>[];
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
};

function group(edit: (payload: Payload) => void): AlertGroup {
  const payload = alertFixture<Payload>('alertmanager-firing.json');
  edit(payload);
  return fromAlertmanager(AlertmanagerWebhook.parse(payload), 0);
}

describe('incidents from hostile or huge alerts', () => {
  let slack: SlackFake;
  let github: GitHubFake;

  beforeAll(async () => {
    slack = await startSlackFake({ botToken: 'xoxb-sec' });
    github = await startGitHubFake({ token: 'ghp_sec' });
    github.createRepo(INCIDENT_REPO, { files: { 'README.md': '# incidents\n' } });
  });

  afterAll(async () => {
    await Promise.all([slack.close(), github.close()]);
  });

  it('show alert text in Slack and on GitHub as text: no mentions, special commands, fake links or javascript: URLs', async () => {
    const t = setup(slack, github);
    const hostile = group((p) => {
      p.groupKey = 'hostile';
      const labels = { alertname: '<!channel> Payments down', owner: '<@U0CEO>', env: 'prod' };
      const annotations = {
        summary: 'cc @acme/security, see #12 <!here> <https://evil.example/login|re-authenticate>',
        description: 'line one\n<!everyone> line two',
        runbook_url: 'javascript:alert(document.cookie)',
        dashboard_url: 'https://grafana.example.com/d/pay',
      };
      p.commonLabels = { ...p.commonLabels, ...labels };
      p.commonAnnotations = annotations;
      for (const a of p.alerts) {
        a.labels = { ...(a.labels as object), ...labels };
        a.annotations = annotations;
      }
    });
    await t.service.handleGroup(hostile, 'h1');
    await t.drain();

    const channel = slack.channels().find((c) => c.name.includes('payments-down'))!;
    const summary = slack.messages(channel.id).find((m) => m.text?.startsWith('Incident:'))!;
    const shown = JSON.stringify({ text: summary.text, blocks: summary.blocks });
    expect(shown).not.toMatch(/<!channel>|<!here>|<!everyone>|<@U0CEO>|<https:\/\/evil|<javascript:/);
    expect(shown).toContain('&lt;!channel&gt; Payments down');
    expect(shown).toContain('&lt;https://evil.example/login|re-authenticate&gt;');
    expect(shown).toContain('runbook (javascript:alert(document.cookie))');
    // Links opsbot builds from http(s) URLs stay links.
    expect(shown).toContain('<https://grafana.example.com/d/pay|dashboard>');
    expect(shown).toContain('|generator>');

    const issue = github.issues(INCIDENT_REPO).find((i) => i.title.includes('Payments down'))!;
    expect(issue.body).not.toMatch(/@acme|#12|<!here>|<@U0CEO>|<https:\/\/evil/);
    expect(issue.body).toContain(`cc @${ZWJ}acme/security, see #${ZWJ}12 &lt;!here&gt;`);
    expect(issue.body?.match(/<!-- opsbot:incident:[^>]*-->/g)).toHaveLength(1);
  });

  it('keep at most maxAlerts alerts in the record, and still count all of them', async () => {
    const t = setup(slack, github);
    const many = group((p) => {
      p.groupKey = 'storm';
      const [template] = p.alerts;
      p.alerts = Array.from({ length: 20_000 }, (_, i) => ({
        ...template,
        fingerprint: `fp${String(i).padStart(6, '0')}`,
        labels: { ...(template?.labels as object), pod: `api-${i}` },
        startsAt: new Date(Date.parse('2026-11-23T09:00:00Z') + i * 1000).toISOString(),
      }));
    });
    await t.service.handleGroup(many, 's1');
    await t.drain();
    const id = await t.store.current('alertmanager:storm');
    const incident = (await t.store.get(id!))!;
    const size = JSON.stringify(incident).length;
    console.log(`incident record with 20,000 alerts: ${size} bytes`);
    expect(Object.keys(incident.alerts)).toHaveLength(200);
    expect(size).toBeLessThan(120_000);
    // The most recent are the ones kept.
    expect(incident.alerts.fp019999).toBeDefined();
    expect(incident.alerts.fp000000).toBeUndefined();

    const channel = slack.channels().find((c) => c.id === incident.channelId)!;
    const summary = slack.messages(channel.id).find((m) => m.text?.startsWith('Incident:'))!;
    expect(JSON.stringify(summary.blocks)).toContain(
      '200 firing · 0 resolved · 19800 older not kept (20000 in all)',
    );
    const issue = github.issues(INCIDENT_REPO).find((i) => i.number === incident.issue)!;
    expect(issue.body).toContain('…and 19950 more');
  });
});
