import { AuditRecord } from '../core/audit.js';
import { message } from '../core/message.js';
import { grantsOf } from '../core/policy.js';
import { slackText } from '../core/text.js';
import { GitHubIssueTracker } from '../github/issue-tracker.js';
import { GitHubPostmortemDrafts } from '../github/postmortem-drafts.js';
import type { IncidentCommands } from '../ports.js';
import { type QueueBackend, type TaskQueue, Unrecoverable } from '../queue/backend.js';
import { createRedis, keyPrefix } from '../queue/connection.js';
import type { FeatureHandle, Runtime } from '../runtime.js';
import { SlackIncidentChat } from '../slack/incident-chat.js';
import { ChannelContextCache, channelChangesTopic, followChannelChanges } from './channel-cache.js';
import { groupOfQueued, type QueuedDelivery } from './delivery.js';
import { IncidentService } from './incident-service.js';
import { gitHubWebUrl, IncidentPostmortems } from './postmortem.js';
import { receiverFor, type TestNote } from './receivers.js';
import { ALERT_SOURCES, sourceById } from './sources/index.js';
import { type IncidentStore, MemoryIncidentStore, RedisIncidentStore } from './store.js';
import { startVerification } from './verify-start.js';

export const INCIDENT_QUEUES = {
  alerts: 'incident-alerts',
  sync: 'incident-sync',
  archive: 'incident-archive',
  notes: 'incident-notes',
  testNotes: 'incident-test-notes',
  postmortem: 'incident-postmortem',
} as const;

/** What the incident commands do, over the running service. */
function incidentCommandsOf(
  service: IncidentService,
  store: IncidentStore,
  postmortems: IncidentPostmortems,
): IncidentCommands {
  return {
    async declare(input) {
      const incident = await service.declare(input);
      // The channel is made by the sync task; wait briefly so the reply can link it.
      for (let i = 0; i < 50; i++) {
        const now = await store.get(incident.id);
        if (now?.channelId) return { id: now.id, channelId: now.channelId, channelName: now.channelName };
        await new Promise((r) => setTimeout(r, 200));
      }
      return { id: incident.id };
    },
    async resolve(channelId, by, note) {
      const before = await service.lookup(channelId);
      const incident = await service.resolve(channelId, by, note);
      return { id: incident.id, alreadyResolved: before?.incident.status === 'resolved' };
    },
    postmortem: (channelId) => postmortems.byChannel(channelId),
  };
}

/** How many open incidents the Home tab lists. */
const HOME_INCIDENTS = 10;

/** The queue that adds each action to its incident: retried with backoff, like an audit record. */
export function defineIncidentNotes(
  backend: QueueBackend,
  service: Pick<IncidentService, 'noteAction'>,
): TaskQueue<unknown> {
  return backend.define<unknown>(
    INCIDENT_QUEUES.notes,
    async (task) => {
      const record = AuditRecord.safeParse(task.data);
      if (!record.success) throw new Unrecoverable(`invalid incident note ${task.id}`);
      await service.noteAction(record.data);
    },
    { concurrency: 4, attempts: 50 },
  );
}

/** Says at start-up which webhooks will be refused for lack of credentials, or accepted without any. */
function warnAboutWebhookAuth(
  log: Runtime['log'],
  deps: {
    webhookToken: string | undefined;
    allowUnauthenticated: boolean;
    signingSecrets: Readonly<Record<string, readonly string[]>>;
  },
): void {
  if (deps.webhookToken) return;
  if (deps.allowUnauthenticated) {
    log.warn(
      'alert webhooks accept requests WITHOUT authentication (OPSBOT_WEBHOOK_ALLOW_UNAUTHENTICATED=true): anyone who can reach /webhooks/* can open incidents',
    );
    return;
  }
  const paths = ALERT_SOURCES.filter((s) => (deps.signingSecrets[s.id]?.length ?? 0) === 0).map(
    (s) => `/webhooks/${s.id}`,
  );
  const refused = paths.length > 1 ? `${paths.slice(0, -1).join(', ')} and ${paths.at(-1)}` : paths.join('');
  log.warn(
    { refused },
    'alert webhooks are refused: OPSBOT_WEBHOOK_TOKEN is not set (set it, or PAGERDUTY_WEBHOOK_SECRET for PagerDuty; OPSBOT_WEBHOOK_ALLOW_UNAUTHENTICATED=true accepts them without, for local use only)',
  );
}

/**
 * Starts incidents from alerts: the webhook receivers, the queues behind them, the incident
 * channels' context for the commands typed there, the runbook-action buttons, and the notes that
 * put every action on its incident.
 */
export async function startIncidents(runtime: Runtime): Promise<FeatureHandle<IncidentCommands>> {
  const settings = runtime.config.incidents;
  if (!settings) throw new Error('the incidents feature started without incidents: in opsbot.yml');
  {
    const log = runtime.log.child({ component: 'incidents' });
    const redis = runtime.backend.kind === 'redis' ? createRedis(runtime.env, 'queue', log) : undefined;
    // Asked on every slash command's ack: kept in process and dropped when any process changes it
    // (Redis publishes changes; the in-memory store of local mode tells it directly).
    let channels: ChannelContextCache | undefined;
    const store: IncidentStore = redis
      ? new RedisIncidentStore(redis, keyPrefix(runtime.env, runtime.env.OPSBOT_QUEUE_PREFIX))
      : new MemoryIncidentStore((channelId) => channels?.invalidate(channelId));
    if (!runtime.slackClient)
      log.info('no Slack client (local mode): incidents are recorded, no channels are made');

    // The service and its queues refer to each other; the queues are defined right below.
    const queues: {
      sync?: TaskQueue<{ id: string }>;
      archive?: TaskQueue<{ id: string; resolvedAt: number }>;
      postmortem?: TaskQueue<{ id: string }>;
    } = {};
    const chat = runtime.slackClient ? new SlackIncidentChat(runtime.slackClient) : undefined;
    const issues = runtime.octokit ? new GitHubIssueTracker(runtime.octokit) : undefined;
    const postmortems = new IncidentPostmortems({
      config: runtime.config,
      store,
      drafts: runtime.octokit ? new GitHubPostmortemDrafts(runtime.octokit) : undefined,
      issues,
      chat,
      webUrl: gitHubWebUrl(runtime.env.GITHUB_API_URL),
      log,
    });
    const service = new IncidentService({
      config: runtime.config,
      store,
      locks: runtime.locks,
      clock: runtime.clock,
      log,
      chat,
      issues,
      runbooks: runtime.runbooks ?? [],
      syncQueue: () => queues.sync!,
      archiveQueue: () => queues.archive!,
      // incidents.postmortem.auto: every resolution proposes (or updates) the draft, as a retried task.
      onResolved: settings.postmortem?.auto
        ? async (incident) => {
            await queues.postmortem?.add(`postmortem-${incident.id}-${incident.resolvedAt ?? 0}`, {
              id: incident.id,
            });
          }
        : undefined,
    });
    // Each job is one delivery as the webhook received it: read, grouped and acted on here.
    const alerts = runtime.backend.define<QueuedDelivery>(
      INCIDENT_QUEUES.alerts,
      async (task) => {
        const read = groupOfQueued(task.data);
        // Kept in the failed set with its raw body, for an operator to replay once fixed.
        if ('invalid' in read) throw new Unrecoverable(`alert delivery ${task.id}: ${read.invalid}`);
        if ('ignored' in read) {
          log.info({ jobId: task.id, reason: read.ignored }, 'queued alert delivery asks for nothing');
          return;
        }
        await service.handleGroup(read.group, task.id);
      },
      { concurrency: 8, attempts: 20 },
    );
    queues.sync = runtime.backend.define<{ id: string }>(
      INCIDENT_QUEUES.sync,
      async (task) => {
        await service.sync(String(task.data.id), task.id, task.attempt >= task.maxAttempts);
      },
      { concurrency: 8, attempts: 30 },
    );
    queues.archive = runtime.backend.define<{ id: string; resolvedAt: number }>(
      INCIDENT_QUEUES.archive,
      async (task) => {
        await service.archive(String(task.data.id), Number(task.data.resolvedAt), task.id);
      },
      { concurrency: 2, attempts: 20 },
    );

    queues.postmortem = runtime.backend.define<{ id: string }>(
      INCIDENT_QUEUES.postmortem,
      async (task) => {
        await postmortems.publish(String(task.data.id), { announce: true });
      },
      { concurrency: 2, attempts: 20 },
    );

    const notes = defineIncidentNotes(runtime.backend, service);
    const testChannel = settings.testChannel;
    const testNotes = testChannel
      ? runtime.backend.define<TestNote>(
          INCIDENT_QUEUES.testNotes,
          async (task) => {
            const receiver = String(task.data.receiver);
            const name = sourceById(String(task.data.source))?.name ?? String(task.data.source);
            const from = task.data.from ?? `contact point "${receiver}"`;
            const text = `${name} test notification received from ${from}; the webhook works and no incident was opened.`;
            await runtime.chat.post(testChannel, message(text, { lines: [`:white_check_mark: ${text}`] }));
          },
          { concurrency: 1, attempts: 5 },
        )
      : undefined;

    const deps = {
      log,
      metrics: runtime.metrics,
      now: () => runtime.clock.now(),
      webhookToken: runtime.env.OPSBOT_WEBHOOK_TOKEN,
      allowUnauthenticated: runtime.env.OPSBOT_WEBHOOK_ALLOW_UNAUTHENTICATED,
      signingSecrets: Object.fromEntries(
        ALERT_SOURCES.map((source) => [source.id, source.secrets?.(runtime.env) ?? []]),
      ),
      queue: alerts,
      testNotes,
    };
    const verification = startVerification(runtime, store, log);
    warnAboutWebhookAuth(log, deps);
    channels = new ChannelContextCache(async (channelId) => {
      const found = await service.lookup(channelId);
      if (!found) return undefined;
      const { incident: _incident, ...context } = found;
      return context;
    });
    const subscriber = redis ? createRedis(runtime.env, 'subscriber', log) : undefined;
    if (subscriber)
      await followChannelChanges(
        subscriber,
        channelChangesTopic(keyPrefix(runtime.env, runtime.env.OPSBOT_QUEUE_PREFIX)),
        channels,
        log,
      );
    return {
      services: incidentCommandsOf(service, store, postmortems),
      // The Home tab lists open incidents in the environments the user may act in, with links.
      async home(user) {
        const grants = grantsOf(runtime.config, { userId: user.id, groups: user.groups });
        const visible = new Set([...grants.values()].flat());
        if (visible.size === 0) return undefined;
        const open = (await store.openIncidents(HOME_INCIDENTS)).filter(
          (i) => i.environment === undefined || visible.has(i.environment),
        );
        const title = '*Open incidents*';
        if (open.length === 0) return message('No open incidents', { lines: [title, 'None.'] });
        const github = runtime.env.GITHUB_API_URL === 'https://api.github.com';
        return message(`${open.length} open incidents`, {
          lines: [
            title,
            ...open.map((i) => {
              const channel = i.channelId ? `<#${i.channelId}>` : '(no channel yet)';
              const ref = i.issue === undefined ? '' : `${settings.repo}#${i.issue}`;
              const issue =
                ref && github
                  ? ` · <https://github.com/${settings.repo}/issues/${i.issue}|${ref}>`
                  : ref
                    ? ` · ${ref}`
                    : '';
              return `• ${channel} ${slackText(i.title)} · ${slackText(i.severity)}${i.environment ? ` · ${i.environment}` : ''}${issue}`;
            }),
          ],
        });
      },
      routes: Object.fromEntries(
        ALERT_SOURCES.map((source) => [`POST /webhooks/${source.id}`, receiverFor(source, deps)]),
      ),
      channelContext: (channelId) => channels.lookup(channelId),
      // A runbook-action button of a summary runs as if the clicker typed its command: same permissions and approvals.
      buttons: [
        {
          action: 'incident.action',
          async handle(click) {
            const button = /^[0-9a-f]{32}$/.test(click.value) ? await store.button(click.value) : undefined;
            if (!button) return message('This button is no longer valid; type the command instead.');
            const ack = await runtime.accept({
              text: button.text,
              requester: click.user,
              channel: { id: button.channel, ...(click.channelName ? { name: click.channelName } : {}) },
              deliveryId: click.deliveryId,
            });
            return ack.message;
          },
        },
      ],
      // Every audit record made in an incident channel joins the incident's actions: queued once per
      // record and retried, so a busy or failing store delays the note and never loses it.
      async onAuditWritten(record) {
        if (record.incident) await notes.add(`note-${record.id}`, record);
        await verification.afterAudit(record);
      },
      async close() {
        await subscriber?.quit();
        await redis?.quit();
      },
    };
  }
}
