import { Octokit } from '@octokit/rest';
import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentService } from '../../src/alerts/incident-service.js';
import { AlertmanagerWebhook, fromAlertmanager } from '../../src/alerts/sources/alertmanager/index.js';
import { MemoryIncidentStore } from '../../src/alerts/store.js';
import { OpsbotConfig } from '../../src/config/schema.js';
import type { AlertGroup } from '../../src/core/alert.js';
import type { AuditRecord } from '../../src/core/audit.js';
import { dateStamp } from '../../src/core/incident.js';
import { GitHubIssueTracker } from '../../src/github/issue-tracker.js';
import { createLogger } from '../../src/logger.js';
import { RetryLater } from '../../src/queue/backend.js';
import { MemoryLocks } from '../../src/queue/memory-state.js';
import { SlackIncidentChat } from '../../src/slack/incident-chat.js';
import { type GitHubFake, startGitHubFake } from '../fakes/github.js';
import { type SlackFake, startSlackFake } from '../fakes/slack.js';
import { alertFixture, INCIDENT_REPO } from '../helpers/alerts.js';
import { rollbackRecord } from '../helpers/records.js';

const HOUR = 3_600_000;

/** The service with its queues replaced by lists the test drains, and a clock the test moves. */
function setup(slackFake: SlackFake, github: GitHubFake, options: { eagerWorker?: boolean } = {}) {
  const config = OpsbotConfig.parse({
    environments: { prod: { context: 'prod', namespace: 'apps' } },
    audit: { repo: 'acme/ops-audit' },
    incidents: { repo: INCIDENT_REPO, reopenWindow: '1h', archiveAfter: '1h' },
  });
  let now = Date.parse('2026-11-23T10:00:00Z');
  const syncs: string[] = [];
  const everSynced = new Set<string>();
  const archives: { id: string; resolvedAt: number }[] = [];
  const store = new MemoryIncidentStore();
  const service = new IncidentService({
    config,
    store,
    locks: new MemoryLocks(),
    clock: { now: () => now },
    log: createLogger('silent'),
    chat: new SlackIncidentChat(
      new WebClient('xoxb-svc', { slackApiUrl: slackFake.url, retryConfig: { retries: 0 } }),
    ),
    issues: new GitHubIssueTracker(new Octokit({ auth: 'ghp_svc', baseUrl: github.url })),
    runbooks: [],
    syncQueue: () => ({
      add: async (_id, data) => {
        if (options.eagerWorker) {
          // A worker may take a task the moment it is queued, before the caller has done anything else.
          try {
            await service.sync(data.id, 'eager');
            return { duplicate: false };
          } catch {
            // A failed attempt is retried by the queue (drain, below).
          }
        }
        syncs.push(data.id);
        everSynced.add(data.id);
        return { duplicate: false };
      },
    }),
    archiveQueue: () => ({
      add: async (_id, data) => {
        archives.push(data);
        return { duplicate: false };
      },
    }),
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
  return {
    service,
    store,
    drain,
    archives,
    advance: (ms: number) => {
      now += ms;
    },
    at: () => now,
    syncIds: () => everSynced,
  };
}

/** An action's audit record made in an incident's channel, as the audit queue hands it to noteAction. */
function actionRecord(
  id: string,
  time: string,
  incident: { channel: string; issue: number },
  change: Partial<AuditRecord> = {},
): AuditRecord {
  return rollbackRecord({
    id,
    time,
    channel: { id: incident.channel },
    incident: { repo: INCIDENT_REPO, issue: incident.issue },
    ...change,
  });
}

function notification(status: 'firing' | 'resolved', startsAt: string, endsAt?: string): AlertGroup {
  const payload = alertFixture<{ status: string; alerts: Record<string, unknown>[] }>(
    'alertmanager-firing.json',
  );
  payload.status = status;
  for (const a of payload.alerts) {
    a.status = status;
    a.startsAt = startsAt;
    if (endsAt) a.endsAt = endsAt;
  }
  return fromAlertmanager(AlertmanagerWebhook.parse(payload), 0);
}

/** A firing notification of its own group (`groupKey` suffixed), handled and drained: its incident, channel and issue. */
async function openIncident(t: ReturnType<typeof setup>, suffix: string) {
  const group = notification('firing', '2026-11-23T10:00:00Z');
  group.groupKey = `${group.groupKey}-${suffix}`;
  await t.service.handleGroup(group, `${suffix}-1`);
  await t.drain();
  const [incident] = await t.store.openIncidents(1);
  if (!incident?.channelId || !incident.issue) throw new Error('the incident has no channel or issue');
  return { group, incident, channel: incident.channelId, issue: incident.issue };
}

describe('incident service', () => {
  let slack: SlackFake;
  let github: GitHubFake;

  beforeAll(async () => {
    slack = await startSlackFake({ botToken: 'xoxb-svc' });
    github = await startGitHubFake({ token: 'ghp_svc' });
    github.createRepo(INCIDENT_REPO, { files: { 'README.md': '# incidents\n' } });
  });

  afterAll(async () => {
    await Promise.all([slack.close(), github.close()]);
  });

  it('reopens within the window, opens a linked incident after it, and ignores late redeliveries', async () => {
    const t = setup(slack, github);
    await t.service.handleGroup(notification('firing', '2026-11-23T10:00:00Z'), 'n1');
    await t.drain();
    expect(github.issues(INCIDENT_REPO)).toHaveLength(1);
    const firstChannel = slack.channels().find((c) => c.name.endsWith('-higherrorrate'))!;

    // Resolved, then the old firing notification arrives late: it must not reopen anything.
    await t.service.handleGroup(
      notification('resolved', '2026-11-23T10:00:00Z', '2026-11-23T10:20:00Z'),
      'n2',
    );
    await t.drain();
    await t.service.handleGroup(notification('firing', '2026-11-23T10:00:00Z'), 'n3');
    await t.drain();
    expect(github.issues(INCIDENT_REPO)[0]?.state).toBe('closed');
    expect(t.archives).toHaveLength(1);

    // A re-fire 10 minutes later: the same incident, a flap.
    t.advance(10 * 60_000);
    await t.service.handleGroup(notification('firing', '2026-11-23T10:35:00Z'), 'n4');
    await t.drain();
    const reopened = await t.service.lookup(firstChannel.id);
    expect(reopened?.incident).toMatchObject({ status: 'open', flaps: 1 });
    expect(github.issues(INCIDENT_REPO)[0]?.state).toBe('open');

    // The archive scheduled for the first resolution does nothing to the reopened channel.
    const [archive] = t.archives;
    await t.service.archive(archive!.id, archive!.resolvedAt, 'a1');
    expect(slack.channels().find((c) => c.id === firstChannel.id)?.is_archived).toBe(false);

    // Resolved again, and a re-fire two hours later: a new incident, linked to the old one.
    await t.service.handleGroup(
      notification('resolved', '2026-11-23T10:35:00Z', '2026-11-23T10:50:00Z'),
      'n5',
    );
    await t.drain();
    t.advance(2 * HOUR);
    await t.service.handleGroup(notification('firing', '2026-11-23T13:00:00Z'), 'n6');
    await t.drain();
    const issues = github.issues(INCIDENT_REPO);
    expect(issues).toHaveLength(2);
    expect(issues[1]?.comments.some((c) => c.body.includes(`Follows #${issues[0]?.number}`))).toBe(true);
    const channels = slack.channels().filter((c) => c.name.includes('higherrorrate'));
    expect(channels.map((c) => c.name).sort()).toEqual([firstChannel.name, `${firstChannel.name}-2`]);
  });

  it('finds the channel it made when it died before saving the channel id, instead of making a "-2"', async () => {
    const t = setup(slack, github);
    const group = notification('firing', '2026-11-23T11:00:00Z');
    group.commonLabels = { ...group.commonLabels, alertname: 'CrashBetweenCreateAndSave' };
    for (const a of group.alerts) a.labels = { ...a.labels, alertname: 'CrashBetweenCreateAndSave' };
    // The process dies right after conversations.create answered: the channel id is never saved.
    // From then on nothing of that process reaches the store (no finally block runs in a dead process).
    const put = t.store.put.bind(t.store);
    let dead = false;
    t.store.put = async (incident) => {
      if (dead || incident.channelId) {
        dead = true;
        throw new Error('the process died here');
      }
      return put(incident);
    };
    await t.service.handleGroup(group, 'c1');
    await expect(t.drain()).rejects.toThrow('the process died here');
    t.store.put = put;
    const [id] = [...t.syncIds()];
    await t.service.sync(id!, 'c2');
    await t.drain();

    const channels = slack.channels().filter((c) => c.name.includes('crashbetweencreateandsave'));
    expect(channels.map((c) => c.name)).toEqual(['inc-20261123-crashbetweencreateandsave']);
    const incident = await t.service.lookup(channels[0]!.id);
    expect(incident?.incident.channelName).toBe('inc-20261123-crashbetweencreateandsave');
  });

  it('gets its channel and issue when a worker takes the sync task before the incident is stored', async () => {
    const t = setup(slack, github, { eagerWorker: true });
    const channelsBefore = slack.channels().length;
    const issuesBefore = github.issues(INCIDENT_REPO).length;
    const group = notification('firing', '2026-11-23T10:00:00Z');
    group.groupKey = 'eager-worker';
    // Its own alert name, so its channel name is its own, whatever earlier tests made.
    group.commonLabels = { ...group.commonLabels, alertname: 'EagerWorker' };
    for (const a of group.alerts) a.labels = { ...a.labels, alertname: 'EagerWorker' };
    await t.service.handleGroup(group, 'n1');
    await t.drain();
    expect(slack.channels()).toHaveLength(channelsBefore + 1);
    expect(github.issues(INCIDENT_REPO)).toHaveLength(issuesBefore + 1);
  });

  it('never takes over an older channel of the same name that this incident did not make', async () => {
    const t = setup(slack, github);
    // The service's clock a minute ahead of now; a channel of the name it will want was made before,
    // by the bot too, and no claim for it is left.
    t.advance(Date.now() + 60_000 - t.at());
    const stale = slack.addChannel({ name: `inc-${dateStamp(t.at())}-stalename` });
    const group = notification('firing', '2026-11-23T10:00:00Z');
    group.groupKey = 'stale-name';
    group.commonLabels = { ...group.commonLabels, alertname: 'StaleName' };
    for (const a of group.alerts) a.labels = { ...a.labels, alertname: 'StaleName' };
    await t.service.handleGroup(group, 's1');
    await t.drain();
    const made = slack.channels().filter((c) => c.name.startsWith('inc-') && c.name.includes('stalename'));
    expect(made.map((c) => c.id)).toContain(stale.id);
    expect(made).toHaveLength(2);
  });

  it('tells the channel and the issue of an action whose record lands after the resolution summary', async () => {
    const t = setup(slack, github);
    const { group, incident, channel, issue: number } = await openIncident(t, 'late');
    const issue = github.issues(INCIDENT_REPO).find((i) => i.number === number)!;

    // Resolved, and the summary says no actions: the rollback's audit record is still being written.
    const resolved = notification('resolved', '2026-11-23T10:00:00Z', '2026-11-23T10:20:00Z');
    resolved.groupKey = group.groupKey;
    await t.service.handleGroup(resolved, 'late-2');
    await t.drain();
    expect(
      slack.messages(channel).some((m) => m.text?.includes('No actions were taken through opsbot.')),
    ).toBe(true);

    const record = actionRecord('cmd-late-executed', '2026-11-23T10:19:58.000Z', {
      channel,
      issue: number,
    });
    await t.service.noteAction(record);
    await t.service.noteAction(record);
    await t.drain();

    const late = slack.messages(channel).filter((m) => m.text?.includes('Recorded after the resolution'));
    expect(late).toHaveLength(1);
    expect(late[0]?.text).toContain('10:19:58Z rollback api in prod by @alice: executed');
    const comments = github
      .issues(INCIDENT_REPO)
      .find((i) => i.number === issue.number)!
      .comments.filter((c) => c.body.includes('Recorded after the resolution:'));
    expect(comments).toHaveLength(1);
    // As in the timeline, "@alice" is broken with a zero-width joiner so GitHub notifies no one of that name.
    expect(comments[0]?.body).toContain('10:19:58Z rollback api in prod by @\u200dalice: executed');
    expect((await t.store.get(incident.id))?.lateActions).toEqual([]);
  });

  it('keeps a verdict with the action it judges, not as one more action by opsbot, and says it at the resolution', async () => {
    const t = setup(slack, github);
    const { group, incident, channel, issue } = await openIncident(t, 'verdict');
    const where = { channel, issue };
    const action = actionRecord('cmd-v-executed', '2026-11-23T10:05:00.000Z', where);
    // As src/alerts/verify.ts writes it: a new record that follows the action's.
    const verdict = actionRecord('verdict-cmd-v-executed', '2026-11-23T10:09:00.000Z', where, {
      outcome: 'resolved',
      action: 'verify rollback',
      requester: { id: 'opsbot', name: 'opsbot' },
      message: 'Verdict on rollback api in prod: resolved, the alerts cleared 4m after the action.',
      follows: { id: action.id },
    });
    await t.service.noteAction(action);
    await t.service.noteAction(verdict);
    await t.service.noteAction(verdict);
    const stored = (await t.store.get(incident.id))!;
    expect(stored.actions.map((a) => a.what)).toEqual(['rollback api in prod']);
    expect(stored.verdicts).toEqual([
      { time: Date.parse(verdict.time), follows: action.id, verdict: 'resolved', line: verdict.message },
    ]);

    const resolved = notification('resolved', '2026-11-23T10:00:00Z', '2026-11-23T10:20:00Z');
    resolved.groupKey = group.groupKey;
    await t.service.handleGroup(resolved, 'verdict-2');
    await t.drain();
    const summary = slack.messages(channel).find((m) => m.text?.includes('Actions taken'));
    expect(summary?.text).toContain('10:05:00Z rollback api in prod by @alice: executed (verdict: resolved)');
    expect(summary?.text).not.toContain('verify');
  });
});
