import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { OpsbotConfig } from '../config/schema.js';
import type { AlertGroup } from '../core/alert.js';
import { type AuditRecord, auditPath } from '../core/audit.js';
import { ExternalServiceError, StateError } from '../core/errors.js';
import {
  actionLine,
  capAlerts,
  channelName,
  commonLabels,
  dateStamp,
  decideGroup,
  firingCount,
  fitGitHubBody,
  type Incident,
  incidentTitle,
  issueBody,
  issueTitle,
  judgedOutcome,
  matchRoutes,
  mergeAlerts,
  resolutionLines,
  summaryMessage,
  totalAlerts,
  verdictOn,
} from '../core/incident.js';
import type { Button } from '../core/message.js';
import { matchRunbooks, type Runbook } from '../core/runbook.js';
import { gitHubText } from '../core/text.js';
import { Verdict } from '../core/verdict.js';
import { failpoint } from '../failpoints.js';
import type { Clock, IncidentChat, IncidentContext, IssueTracker, Locks } from '../ports.js';
import { RetryLater, type TaskQueue } from '../queue/backend.js';
import { hashOf } from './hash.js';
import { sourceById } from './sources/index.js';
import type { IncidentStore } from './store.js';

type IncidentsConfig = NonNullable<OpsbotConfig['incidents']>;

/** At most one chat.postMessage/chat.update per channel per this many ms. */
export const CHANNEL_MESSAGE_GAP_MS = 1_100;
const LOCK_RETRY_MS = 100;

export interface IncidentServiceDeps {
  config: OpsbotConfig;
  store: IncidentStore;
  locks: Locks;
  clock: Clock;
  log: Logger;
  /** Incident channels; without it (local mode) incidents are only recorded. */
  chat: IncidentChat | undefined;
  /** Incident issues; without it there are none. */
  issues: IssueTracker | undefined;
  runbooks: readonly Runbook[];
  syncQueue(): TaskQueue<{ id: string }>;
  archiveQueue(): TaskQueue<{ id: string; resolvedAt: number }>;
  /** Told once per resolution, after the channel and the issue have it (the postmortem draft starts here). */
  onResolved?: ((incident: Incident) => Promise<void>) | undefined;
}

/**
 * Incidents from alert groups: state in the store, every Slack and GitHub effect in a per-incident
 * sync task. Each step records its result before the next, so a retried task never repeats one.
 */
export class IncidentService {
  private readonly settings: IncidentsConfig;

  constructor(private readonly deps: IncidentServiceDeps) {
    if (!deps.config.incidents) throw new Error('incidents are not configured');
    this.settings = deps.config.incidents;
  }

  private async withLock<T>(key: string, holder: string, work: () => Promise<T>): Promise<T> {
    const lock = await this.deps.locks.acquire(`incident:${key}`, holder, `incident ${key}`);
    if (!lock.acquired) throw new RetryLater(LOCK_RETRY_MS + Math.floor(Math.random() * 100), 'group busy');
    try {
      return await work();
    } finally {
      await lock.release().catch(() => undefined);
    }
  }

  /** One notification of an alert group: open, update, reopen or resolve its incident. */
  async handleGroup(group: AlertGroup, holder: string): Promise<void> {
    const key = `${group.source}:${group.groupKey}`;
    // The lock is the incident's: a group that joins another source's incident takes that one's.
    const planned = await this.findIncident(group, key, this.deps.clock.now());
    const lockKey = planned.incident?.key ?? key;
    await this.withLock(lockKey, holder, async () => {
      const now = this.deps.clock.now();
      const found = await this.findIncident(group, key, now);
      if ((found.incident?.key ?? key) !== lockKey) throw new RetryLater(LOCK_RETRY_MS, 'incident changed');
      let incident = found.incident;
      if (incident && found.joins) {
        await this.deps.store.setCurrent(key, incident.id);
        this.join(incident, group);
      }
      const decision = decideGroup(
        incident,
        group,
        now,
        this.settings.reopenWindow,
        sourceById(group.source)?.refireAfterResolve === true,
      );
      if (decision === 'ignore' && !incident) return;
      if (decision === 'open' || decision === 'open-linked') {
        const previous = incident;
        incident = this.newIncident(key, group, now);
        if (previous) {
          incident.previous = {
            id: previous.id,
            ...(previous.issue ? { issue: previous.issue } : {}),
            ...(previous.channelId ? { channelId: previous.channelId } : {}),
          };
        }
        await this.deps.store.setCurrent(key, incident.id);
        await this.indexForJoins(incident, group);
        this.deps.log.info(
          { incidentId: incident.id, key, linkedTo: incident.previous?.id },
          'incident opened',
        );
      }
      if (!incident) return;
      if (decision === 'reopen') {
        incident.status = 'open';
        incident.flaps++;
        this.deps.log.info({ incidentId: incident.id, flaps: incident.flaps }, 'incident reopened');
        delete incident.resolvedAt;
        delete incident.resolvedBy;
        incident.outbox.push(
          `:repeat: Fired again within ${this.settings.reopenWindow / 60_000}m of resolution: reopened (flap ${incident.flaps}).`,
        );
        incident.issueDirty = true;
      }
      const changes = mergeAlerts(incident.alerts, group.alerts);
      capAlerts(incident, this.settings.maxAlerts);
      incident.notifications++;
      const truncated = Math.max(incident.truncatedAlerts, group.truncatedAlerts);
      // More alerts left out by the source, with none newly listed, still changes the counts shown.
      if (truncated !== incident.truncatedAlerts) {
        incident.summaryDirty = true;
        incident.issueDirty = true;
      }
      incident.truncatedAlerts = truncated;
      if (incident.status === 'open' && incident.channelId) {
        if (changes.newlyFiring.length && decision === 'update')
          incident.outbox.push(`:fire: ${changes.newlyFiring.length} more alert(s) firing.`);
        if (changes.newlyResolved.length && firingCount(incident) > 0)
          incident.outbox.push(
            `:large_green_circle: ${changes.newlyResolved.length} alert(s) resolved; ${firingCount(incident)} still firing.`,
          );
      }
      if (changes.newlyFiring.length || changes.newlyResolved.length) {
        incident.summaryDirty = true;
        incident.issueDirty = true;
      }
      const allResolved = firingCount(incident) === 0 && group.alerts.every((a) => a.status === 'resolved');
      if (incident.status === 'open' && allResolved && incident.source !== 'manual') {
        this.markResolved(incident, now, 'the alerts');
      }
      await this.save(incident);
    });
  }

  /**
   * The incident a notification belongs to: its group's own; else an open incident of another
   * source that it names (PagerDuty's incident_key) or that it agrees with on the correlation
   * labels within the window, which it then joins.
   */
  private async findIncident(
    group: AlertGroup,
    key: string,
    now: number,
  ): Promise<{ incident: Incident | undefined; joins: boolean }> {
    const store = this.deps.store;
    const currentId = await store.current(key);
    if (currentId) return { incident: await store.get(currentId), joins: false };
    const candidates = (group.joins ?? []).map((k) => `dedup:${k}`);
    const correlation = this.correlationKey(group);
    for (const alias of [...candidates, ...(correlation ? [`correlate:${correlation}`] : [])]) {
      const id = await store.current(alias);
      const target = id ? await store.get(id) : undefined;
      if (target?.status !== 'open' || target.source === 'manual') continue;
      const fromOtherSource =
        target.source !== group.source && !target.sources.some((s) => s.id === group.source);
      const named = alias.startsWith('dedup:');
      if (fromOtherSource && (named || now - target.openedAt <= this.settings.correlation.window))
        return { incident: target, joins: true };
    }
    return { incident: undefined, joins: false };
  }

  /** What makes alerts of two sources the same problem: the values of the correlation labels, all present. */
  private correlationKey(group: AlertGroup): string | undefined {
    const s = this.settings;
    const labels = { ...commonLabels(group.alerts), ...group.commonLabels };
    const names = s.correlation.labels ?? ['alertname', s.envLabel, s.deploymentLabel];
    const values = names.map((name) => (Object.hasOwn(labels, name) ? labels[name] : undefined));
    if (values.some((v) => v === undefined || v === '')) return undefined;
    return hashOf(JSON.stringify([names, values]), 32);
  }

  /** Lets other sources find a newly opened incident: by the keys they carry, and by its correlation labels. */
  private async indexForJoins(incident: Incident, group: AlertGroup): Promise<void> {
    const keys = sourceById(group.source)?.dedupKeys?.(group) ?? [];
    for (const k of keys) await this.deps.store.setCurrent(`dedup:${k}`, incident.id);
    const correlation = this.correlationKey(group);
    if (correlation) await this.deps.store.setCurrent(`correlate:${correlation}`, incident.id);
  }

  /** Another source's group joins an open incident: no second channel or issue, one more source listed. */
  private join(incident: Incident, group: AlertGroup): void {
    incident.sources.push({
      id: group.source,
      key: group.groupKey,
      ...(group.link ? { link: group.link } : {}),
    });
    const name = sourceById(group.source)?.name ?? group.source;
    if (incident.channelId)
      incident.outbox.push(`:link: ${name} reports the same problem; it is part of this incident.`);
    incident.summaryDirty = true;
    incident.issueDirty = true;
    this.deps.log.info(
      { incidentId: incident.id, source: group.source, groupKey: group.groupKey },
      'alert group joined an open incident of another source',
    );
  }

  private newIncident(key: string, group: AlertGroup, now: number): Incident {
    const labels = { ...commonLabels(group.alerts), ...group.commonLabels };
    const severity = labels[this.settings.severityLabel] ?? 'unknown';
    const target = this.targetOf(labels);
    return {
      id: `${hashOf(key, 10)}-${now.toString(36)}`,
      key,
      source: group.source,
      title: incidentTitle(group),
      severity,
      status: 'open',
      openedAt: now,
      flaps: 0,
      labels,
      annotations: group.commonAnnotations,
      ...(group.externalURL ? { externalURL: group.externalURL } : {}),
      ...target,
      alerts: {},
      sources: [{ id: group.source, key: group.groupKey, ...(group.link ? { link: group.link } : {}) }],
      truncatedAlerts: 0,
      droppedAlerts: 0,
      notifications: 0,
      invited: false,
      archived: false,
      nameSuffix: 0,
      issueAttempted: false,
      actions: [],
      verdicts: [],
      outbox: [],
      summaryDirty: false,
      summaryRefused: false,
      issueDirty: false,
      resolutionDone: true,
      lateActions: [],
      lastSentAt: 0,
      syncPending: false,
      syncSeq: 0,
      buttons: [],
    };
  }

  /** The opsbot environment and deployment an alert's labels point at, when the config can tell. */
  targetOf(labels: Record<string, string>): { environment?: string; deployment?: string } {
    const s = this.settings;
    const envs = this.deps.config.environments;
    let environment: string | undefined;
    const named = labels[s.envLabel];
    // Label values come from the alert: only the config's own keys count, never Object.prototype's.
    if (named)
      environment = Object.hasOwn(s.environmentMap, named)
        ? s.environmentMap[named]
        : Object.hasOwn(envs, named)
          ? named
          : undefined;
    const namespace = labels[s.namespaceLabel];
    if (!environment && namespace) {
      const cluster = labels[s.clusterLabel];
      const matches = Object.entries(envs).filter(
        ([, e]) => e.namespace === namespace && (cluster === undefined || e.context === cluster),
      );
      if (matches.length === 1) environment = matches[0]?.[0];
    }
    environment ??= s.environment;
    const deployment = labels[s.deploymentLabel];
    return {
      ...(environment ? { environment } : {}),
      ...(deployment && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(deployment) ? { deployment } : {}),
    };
  }

  private markResolved(incident: Incident, now: number, by: string, note?: string): void {
    this.deps.log.info({ incidentId: incident.id, by }, 'incident resolved');
    incident.status = 'resolved';
    incident.resolvedAt = now;
    incident.resolvedBy = by;
    if (note) incident.note = note;
    incident.resolutionDone = false;
    incident.summaryDirty = true;
    incident.issueDirty = true;
  }

  /** Saves, and makes sure one sync task is pending if anything is left to do. */
  private async save(incident: Incident): Promise<void> {
    if (!incident.syncPending && this.hasWork(incident)) {
      incident.syncPending = true;
      incident.syncSeq++;
      const wait = Math.max(0, incident.lastSentAt + CHANNEL_MESSAGE_GAP_MS - this.deps.clock.now());
      await this.deps.syncQueue().add(
        `sync-${incident.id}-${incident.syncSeq}`,
        { id: incident.id },
        {
          delayMs: incident.channelId ? wait : 0,
        },
      );
    }
    await this.deps.store.put(incident);
  }

  private hasWork(i: Incident): boolean {
    if (!this.deps.chat) return false;
    return (
      !i.channelId ||
      !i.invited ||
      (!i.summaryTs && !i.summaryRefused) ||
      (i.summaryDirty && Boolean(i.summaryTs)) ||
      i.outbox.length > 0 ||
      (Boolean(this.deps.issues) &&
        (!i.issue || i.issueDirty || !i.resolutionDone || i.lateActions.length > 0))
    );
  }

  /** The sync task: bring the channel, the summary and the issue up to date, one message at a time. */
  async sync(id: string, holder: string, lastAttempt = false): Promise<void> {
    const first = await this.deps.store.get(id);
    // save() queues this task just before it stores the incident, and a worker may be quicker:
    // fail this attempt so the queue tries again, rather than finish with the incident left pending.
    if (!first) throw new StateError('not_found', `incident ${id} is not stored yet`, { retryable: true });
    await this.withLock(first.key, holder, async () => {
      const incident = await this.deps.store.get(id);
      if (!incident) return;
      incident.syncPending = false;
      try {
        await this.syncSteps(incident);
      } catch (err) {
        // This task is retried by the queue: no second one is scheduled meanwhile, unless none is left.
        if (!lastAttempt || err instanceof RetryLater) incident.syncPending = true;
        throw err;
      } finally {
        await this.save(incident);
      }
    });
  }

  private async syncSteps(incident: Incident): Promise<void> {
    const chat = this.deps.chat;
    if (!chat) return;
    const now = () => this.deps.clock.now();
    while (!incident.channelId) {
      // Every conversations.create call, a retry on name_taken included, takes a slot.
      const token = `${incident.id}-${incident.nameSuffix}`;
      const limit = this.settings.channelCreateLimit;
      const wait = await this.deps.store.takeCreateSlot(now(), limit.count, limit.per, token);
      if (wait > 0) {
        // Keep the pending flag: this task is the one that will create the channel.
        incident.syncPending = true;
        await this.deps.store.put(incident);
        throw new RetryLater(wait, 'channel creation rate');
      }
      try {
        await this.createChannel(chat, incident);
      } finally {
        // The slot counts from when Slack had surely seen the call, so windows never overlap there.
        await this.deps.store.touchCreateSlot(now(), token);
      }
      await this.deps.store.put(incident);
    }
    const channel = incident.channelId as string;
    if (!incident.invited) {
      await this.setTopicAndInvite(chat, incident, channel);
      incident.invited = true;
      await this.deps.store.put(incident);
    }
    if (incident.status === 'open' && incident.archived) {
      await chat.unarchive(channel);
      incident.archived = false;
      await this.deps.store.put(incident);
    }
    // One message per pass keeps the channel within about one message per second.
    const gapOk = now() - incident.lastSentAt >= CHANNEL_MESSAGE_GAP_MS;
    if (!incident.summaryTs && !incident.summaryRefused) {
      const msg = summaryMessage(incident, await this.buttons(incident), {
        silenceURL: sourceById(incident.source)?.silenceURL?.(incident),
      });
      const posted = await this.refusable(incident, 'chat.postMessage', async () => {
        try {
          return await chat.post(channel, msg);
        } catch (err) {
          if (!refused(err)) throw err;
          this.warnRefused(incident, 'chat.postMessage', err);
          // The summary's blocks were refused: the channel still gets its headline, as plain text.
          return await chat.postText(channel, `${msg.text}\n${SUMMARY_REFUSED}`);
        }
      });
      if (posted?.ts) incident.summaryTs = posted.ts;
      else incident.summaryRefused = true;
      incident.summaryDirty = false;
      incident.lastSentAt = now();
      await this.deps.store.put(incident);
    } else if (gapOk && incident.outbox.length > 0) {
      const lines = incident.outbox.splice(0, incident.outbox.length);
      await this.refusable(incident, 'chat.postMessage', () => chat.postText(channel, lines.join('\n')));
      incident.lastSentAt = now();
    } else if (gapOk && incident.summaryDirty && incident.summaryTs) {
      const msg = summaryMessage(incident, await this.buttons(incident), {
        silenceURL: sourceById(incident.source)?.silenceURL?.(incident),
      });
      const ts = incident.summaryTs;
      await this.refusable(incident, 'chat.update', () => chat.update(channel, ts, msg));
      incident.summaryDirty = false;
      incident.lastSentAt = now();
    }
    if (this.deps.issues) await this.syncIssue(this.deps.issues, incident);
    if (incident.status === 'resolved' && !incident.resolutionDone) {
      incident.outbox.push(...resolutionLines(incident));
      incident.resolutionDone = true;
      const resolvedAt = incident.resolvedAt ?? now();
      await this.deps.archiveQueue().add(
        `archive-${incident.id}-${resolvedAt}`,
        { id: incident.id, resolvedAt },
        {
          delayMs: this.settings.archiveAfter,
        },
      );
      await this.deps.onResolved?.(incident);
    }
  }

  private async createChannel(chat: IncidentChat, incident: Incident): Promise<void> {
    const vars = {
      ...incident.labels,
      prefix: this.settings.channelPrefix,
      date: dateStamp(incident.openedAt),
      title: incident.title,
      severity: incident.severity,
    };
    if (incident.nameSuffix >= 50)
      throw new StateError('conflict', `no free channel name for incident ${incident.id}`);
    const name = channelName(this.settings.channelName, vars, incident.nameSuffix);
    // The name is claimed for this incident before Slack is asked, so that after a crash between
    // conversations.create and saving its answer, the channel found under that name is known to be ours.
    const claimedAt = await this.deps.store.claimChannelName(name, incident.id, this.deps.clock.now());
    if (claimedAt === undefined) {
      incident.nameSuffix++;
      return;
    }
    const created = await chat.createChannel(name);
    if ('id' in created) {
      incident.channelId = created.id;
      incident.channelName = name;
      failpoint('incident.after-channel-create');
      return;
    }
    // Taken: it is ours only if this bot made it after the claim (archived ones included).
    const ours = await chat.findOwnChannel(name, claimedAt);
    if (ours) {
      this.deps.log.info(
        { incidentId: incident.id, channel: name },
        'found the channel an earlier attempt made',
      );
      incident.channelId = ours;
      incident.channelName = name;
    } else incident.nameSuffix++;
  }

  private async setTopicAndInvite(chat: IncidentChat, incident: Incident, channel: string): Promise<void> {
    const topic = `${incident.severity.toUpperCase()} ${incident.title} — opened ${new Date(incident.openedAt).toISOString().slice(0, 16)}Z`;
    await chat.setTopic(channel, topic);
    const members = matchRoutes(this.settings.routes, incident.labels);
    const users = new Set(members.filter((m) => !m.startsWith('@')));
    const handles = members.filter((m) => m.startsWith('@')).map((m) => m.slice(1));
    if (handles.length) for (const u of await chat.usersOfGroups(handles)) users.add(u);
    if (users.size === 0) return;
    await chat.invite(channel, [...users]);
  }

  /**
   * A post chat refuses (invalid_blocks, msg_too_long, channel_not_found…) will not be accepted by
   * retrying, so it is logged with the refusal and skipped: the issue and the rest go on.
   */
  private async refusable<T>(
    incident: Incident,
    method: string,
    post: () => Promise<T>,
  ): Promise<T | undefined> {
    try {
      return await post();
    } catch (err) {
      if (!refused(err)) throw err;
      this.warnRefused(incident, method, err);
      return undefined;
    }
  }

  private warnRefused(incident: Incident, method: string, err: ExternalServiceError): void {
    this.deps.log.warn(
      {
        incidentId: incident.id,
        channel: incident.channelId,
        method,
        slackError: err.reason,
        detail: err.message,
      },
      'Slack refused an incident message; the incident goes on without it',
    );
  }

  private async syncIssue(issues: IssueTracker, incident: Incident): Promise<void> {
    const repo = this.settings.repo;
    const labels = [`severity:${incident.severity}`, `status:${incident.status}`, 'incident'];
    const link = incident.channelId ? `<#${incident.channelId}> (#${incident.channelName ?? ''})` : undefined;
    if (!incident.issue) {
      const marker = `<!-- opsbot:incident:${incident.id} -->`;
      // A retry after an issue was created but not recorded finds it by its marker.
      const existing = incident.issueAttempted ? await issues.findIssue(repo, 'incident', marker) : undefined;
      if (!incident.issueAttempted) {
        incident.issueAttempted = true;
        await this.deps.store.put(incident);
      }
      const number =
        existing ??
        (await issues.createIssue(repo, {
          title: issueTitle(incident),
          labels,
          body: issueBody(incident, link),
        }));
      incident.issue = number;
      incident.issueDirty = incident.status !== 'open';
      incident.summaryDirty = true;
      await this.deps.store.put(incident);
      if (incident.previous?.issue) {
        await issues.comment(
          repo,
          number,
          `Follows #${incident.previous.issue}: the same alert group fired again after that incident was resolved.`,
        );
      }
    }
    const issue = incident.issue;
    // The timeline goes on before the issue is closed, so a closed issue always has it.
    if (incident.status === 'resolved' && !incident.resolutionDone) {
      const marker = `<!-- opsbot:resolution:${incident.id}:${incident.resolvedAt} -->`;
      if (!(await issues.hasComment(repo, issue, marker))) {
        await issues.comment(
          repo,
          issue,
          fitGitHubBody(
            [marker, '### Timeline', ...timeline(incident), '', ...resolutionLines(incident, 'github')].join(
              '\n',
            ),
          ),
        );
      }
    }
    // Actions whose records landed after the timeline was posted get a comment each, once.
    while (incident.status === 'resolved' && incident.resolutionDone && incident.lateActions.length > 0) {
      const recordId = incident.lateActions[0] as string;
      const action = incident.actions.find((a) => a.recordId === recordId);
      const marker = `<!-- opsbot:late-action:${incident.id}:${recordId} -->`;
      if (action && !(await issues.hasComment(repo, issue, marker))) {
        await issues.comment(
          repo,
          issue,
          [marker, 'Recorded after the resolution:', actionLine(action, 'github')].join('\n'),
        );
      }
      incident.lateActions.shift();
      await this.deps.store.put(incident);
    }
    if (incident.issueDirty) {
      await issues.updateIssue(repo, issue, {
        body: issueBody(incident, link),
        labels,
        state: incident.status === 'resolved' ? 'closed' : 'open',
      });
      incident.issueDirty = false;
    }
  }

  /** Rollback/Restart/Status buttons when the alert names a deployment in a known environment. */
  private async buttons(incident: Incident): Promise<Button[]> {
    if (incident.status !== 'open' || !incident.environment || !incident.channelId) return [];
    if (incident.buttons.length === 0) {
      const d = incident.deployment;
      const env = incident.environment;
      const reason = `--reason "incident ${incident.channelName ?? incident.id}"`;
      const specs = [
        ...(d
          ? [
              { label: `Rollback ${d}`, text: `rollback ${d} --env ${env} ${reason}` },
              { label: `Restart ${d}`, text: `restart ${d} --env ${env} ${reason}` },
              { label: `Status ${d}`, text: `status ${d} --env ${env}` },
            ]
          : []),
        ...matchRunbooks(this.deps.runbooks, incident.labels)
          .map((r) => ({ runbook: r, args: runbookArgs(r, incident.labels, d) }))
          .filter((r): r is { runbook: Runbook; args: string[] } => r.args !== undefined)
          .slice(0, 5)
          .map(({ runbook, args }) => ({
            label: `Run ${runbook.name}`,
            text: [`run ${runbook.name}`, ...args, `--env ${env}`, reason].join(' '),
          })),
      ];
      for (const spec of specs) {
        const id = randomBytes(16).toString('hex');
        await this.deps.store.putButton(id, { text: spec.text, channel: incident.channelId });
        incident.buttons.push({ id, ...spec });
      }
    }
    return incident.buttons.map((b) => ({ action: 'incident.action', label: b.label, value: b.id }));
  }

  async archive(id: string, resolvedAt: number, holder: string): Promise<void> {
    const first = await this.deps.store.get(id);
    if (!first || !this.deps.chat) return;
    await this.withLock(first.key, holder, async () => {
      const incident = await this.deps.store.get(id);
      // Reopened (or resolved again later) since this was scheduled: not this task's business.
      if (!incident?.channelId || incident.status !== 'resolved' || incident.resolvedAt !== resolvedAt)
        return;
      if (incident.archived) return;
      await this.deps.chat?.archive(incident.channelId);
      incident.archived = true;
      await this.deps.store.put(incident);
    });
  }

  /** Opens an incident by hand (/ops incident declare). */
  async declare(input: {
    title: string;
    severity: string;
    environment: string;
    by: string;
    key: string;
  }): Promise<Incident> {
    const key = `manual:${input.key}`;
    return this.withLock(key, input.key, async () => {
      const existingId = await this.deps.store.current(key);
      const existing = existingId ? await this.deps.store.get(existingId) : undefined;
      if (existing) return existing;
      const now = this.deps.clock.now();
      const incident = this.newIncident(
        key,
        {
          source: 'manual',
          groupKey: input.key,
          status: 'firing',
          title: input.title,
          commonLabels: { [this.settings.severityLabel]: input.severity },
          commonAnnotations: { summary: `Declared by ${input.by}` },
          alerts: [],
          truncatedAlerts: 0,
          receivedAt: now,
        },
        now,
      );
      incident.environment = input.environment;
      await this.deps.store.setCurrent(key, incident.id);
      await this.save(incident);
      return incident;
    });
  }

  /** Resolves the incident of a channel by hand (/ops incident resolve). */
  async resolve(channelId: string, by: string, note: string | undefined): Promise<Incident> {
    const id = await this.deps.store.byChannel(channelId);
    const first = id ? await this.deps.store.get(id) : undefined;
    if (!first) throw new StateError('not_found', 'This is not an incident channel.');
    return this.withLock(first.key, `resolve-${channelId}`, async () => {
      const incident = (await this.deps.store.get(first.id)) as Incident;
      if (incident.status === 'resolved') return incident;
      this.markResolved(incident, this.deps.clock.now(), by, note);
      await this.save(incident);
      return incident;
    });
  }

  async lookup(channelId: string): Promise<(IncidentContext & { incident: Incident }) | undefined> {
    const id = await this.deps.store.byChannel(channelId);
    const incident = id ? await this.deps.store.get(id) : undefined;
    if (!incident?.issue) return undefined;
    return {
      repo: this.settings.repo,
      issue: incident.issue,
      labels: incident.labels,
      environment: incident.environment,
      deployment: incident.deployment,
      incident,
    };
  }

  /** An action taken in the channel, for the resolution summary. Idempotent by record id. */
  async noteAction(record: AuditRecord): Promise<void> {
    if (!record.channel || !record.incident) return;
    const id = await this.deps.store.byChannel(record.channel.id);
    const first = id ? await this.deps.store.get(id) : undefined;
    if (!first) return;
    // A busy incident answers RetryLater: the notes queue tries again, without using up an attempt.
    await this.withLock(first.key, `note-${record.id}`, async () => {
      const incident = (await this.deps.store.get(first.id)) as Incident;
      const verdict = Verdict.safeParse(record.outcome);
      if (record.follows && verdict.success) {
        // opsbot's judgement of an action: kept with it, not listed as one more action by "@opsbot".
        if (incident.verdicts.some((v) => v.follows === record.follows?.id)) return;
        incident.verdicts.push({
          time: Date.parse(record.time),
          follows: record.follows.id,
          verdict: verdict.data,
          line: record.message,
        });
        await this.deps.store.put(incident);
        return;
      }
      if (incident.actions.some((a) => a.recordId === record.id)) return;
      incident.actions.push({
        time: Date.parse(record.time),
        who: record.requester.name ? `@${record.requester.name}` : record.requester.id,
        what: [record.action, record.target, record.environment ? `in ${record.environment}` : '']
          .filter(Boolean)
          .join(' '),
        outcome: record.outcome,
        recordId: record.id,
        ...(record.approver
          ? { approver: record.approver.name ? `@${record.approver.name}` : record.approver.id }
          : {}),
        auditPath: auditPath(this.deps.config.audit.dir, record),
      });
      // The resolution summary already went out without it (the record was written after the
      // resolve): say it in the channel and on the issue, so neither reads "no actions".
      if (incident.status === 'resolved' && incident.resolutionDone) {
        // An archived channel takes no posts; the issue comment still tells.
        if (!incident.archived)
          incident.outbox.push(
            `:memo: Recorded after the resolution: ${actionLine(incident.actions.at(-1)!)}`,
          );
        incident.lateActions.push(record.id);
        await this.save(incident);
        return;
      }
      await this.deps.store.put(incident);
    });
  }
}

function timeline(incident: Incident): string[] {
  const at = (ms: number) => new Date(ms).toISOString().replace('.000', '');
  return [
    `- ${at(incident.openedAt)} opened (${incident.source})`,
    `- ${incident.notifications} notification(s) received, ${totalAlerts(incident) - incident.truncatedAlerts} alert(s) tracked${incident.droppedAlerts ? ` (the ${Object.keys(incident.alerts).length} most recent kept in the record)` : ''}${incident.truncatedAlerts ? `, ${incident.truncatedAlerts} left out by the source` : ''}`,
    ...(incident.flaps ? [`- reopened ${incident.flaps} time(s) within the reopen window`] : []),
    ...incident.actions.map(
      (a) =>
        `- ${at(a.time)} ${gitHubText(a.what)} by ${gitHubText(a.who)}: ${judgedOutcome(a, verdictOn(incident, a.recordId), gitHubText)}`,
    ),
    `- ${at(incident.resolvedAt ?? incident.openedAt)} resolved by ${gitHubText(incident.resolvedBy ?? '?')}`,
  ];
}

const SUMMARY_REFUSED = '_(Slack refused the full summary; the incident issue has the details.)_';

/** The chat service answered with a refusal that retrying will not change (not a transport failure). */
function refused(err: unknown): err is ExternalServiceError {
  return err instanceof ExternalServiceError && !err.retryable;
}

const SAFE_VALUE = /^[A-Za-z0-9._:/@-]{1,200}$/;

/**
 * key=value arguments for a runbook button, from the alert: its deployment and any label named
 * like a parameter. Undefined when a required parameter has no value, so no button would fail.
 */
export function runbookArgs(
  runbook: Runbook,
  labels: Record<string, string>,
  deployment: string | undefined,
): string[] | undefined {
  const args: string[] = [];
  for (const [name, param] of Object.entries(runbook.params)) {
    const value = name === 'deployment' && deployment ? deployment : labels[name];
    if (value !== undefined && SAFE_VALUE.test(value)) args.push(`${name}=${value}`);
    else if (param.default === undefined) return undefined;
  }
  return args;
}
