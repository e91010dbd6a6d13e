import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockActionPayload, interactionBody, postSigned, slashCommandBody } from '../fakes/slack-signing.js';
import { alertFixture, INCIDENT_REPO, postWebhook, WEBHOOK_TOKEN } from '../helpers/alerts.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { AUDIT_REPO, SIGNING_SECRET, startWorld, USERS, type World } from '../helpers/world.js';

/** What real senders put on the wire, beyond what our own helpers send. One bot process for the file. */
const CONFIG = `
environments:
  staging: { context: staging, namespace: apps }
roles:
  oncall:
    members: [${USERS.oncall.id}]
    can:
      - { actions: [rollback, restart, scale, status, history], environments: [staging] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
incidents:
  repo: ${INCIDENT_REPO}
  channelPrefix: inc
  testChannel: "#ops"
`;

describe('real-world request shapes', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG });
    world.github.createRepo(INCIDENT_REPO, { files: { 'README.md': '# incidents\n' } });
    bot = await startBotProcess({ ...world.env, OPSBOT_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  // RFC 9110 §8.3: a media type may carry parameters; HTTP clients (and proxies) add `charset`.
  describe('Content-Type with a charset parameter', () => {
    it('accepts a slash command sent as application/x-www-form-urlencoded; charset=utf-8', async () => {
      const body = slashCommandBody({
        text: 'status api --env staging',
        user_id: USERS.oncall.id,
        user_name: USERS.oncall.name,
        channel_id: 'COPS',
        response_url: world.slack.responseUrl(),
      });
      const res = await postSigned(`${bot.url}/slack/events`, body, SIGNING_SECRET, {
        contentType: 'application/x-www-form-urlencoded; charset=utf-8',
      });
      expect(res.status).toBe(200);
      const reply = (await res.json()) as { text?: string };
      expect(reply.text).toMatch(/^Accepted: status api in staging/);
    });

    it('accepts a button click with an upper-case media type and a quoted charset', async () => {
      const payload = blockActionPayload({
        user: USERS.oncall.id,
        channel: 'COPS',
        actionId: 'approval.approve',
        value: '0'.repeat(32),
        responseUrl: world.slack.responseUrl(),
      });
      const res = await postSigned(`${bot.url}/slack/events`, interactionBody(payload), SIGNING_SECRET, {
        contentType: 'Application/X-WWW-Form-Urlencoded; Charset="UTF-8"',
      });
      expect(res.status).toBe(200);
      const refused = await world.slack.waitFor(() =>
        world.slack.ephemerals.find((e) => e.user === USERS.oncall.id && e.text?.startsWith('Refused')),
      );
      expect(refused.text).toBe('Refused: this approval request is unknown.');
    });

    it('accepts alert webhooks sent as application/json; charset=utf-8', async () => {
      const res = await postWebhook(bot.url, 'alertmanager', alertFixture('alertmanager-firing.json'), {
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expect(res.status).toBe(202);
      expect(res.body.status).toBe('accepted');
    });
  });

  // https://docs.slack.dev/reference/block-kit/blocks and the section/button/context pages: Slack
  // refuses a whole message with invalid_blocks past any limit; the Slack fake enforces them.
  describe('Block Kit limits', () => {
    const incChannels = () => world.slack.channels().filter((c) => c.name.startsWith('inc-'));
    const issues = () => world.github.issues(INCIDENT_REPO);
    /** Waits for the incident's issue; on a timeout, says what the bot did about it. */
    const issueTitled = (title: string, name: string) =>
      world.github
        .waitFor(() => issues().find((i) => i.title === title), 30_000)
        .catch((err: unknown) => {
          const tail = bot.raw.filter((l) => l.includes(name) || /"level":(40|50)/.test(l)).slice(-25);
          const calls = world.slack.calls.slice(-10).map((c) => `${c.method} ${c.status}`);
          throw new Error(
            `no issue "${title}"; bot said:\n${tail.join('\n')}\nlast Slack calls: ${calls.join(', ')}`,
            {
              cause: err,
            },
          );
        });

    function alertGroup(
      groupKey: string,
      labels: Record<string, string>,
      annotations: Record<string, string>,
    ) {
      return {
        version: '4',
        groupKey,
        truncatedAlerts: 0,
        status: 'firing',
        receiver: 'opsbot',
        groupLabels: { alertname: labels.alertname },
        commonLabels: labels,
        commonAnnotations: annotations,
        externalURL: 'http://alertmanager.example.com:9093',
        alerts: [
          {
            status: 'firing',
            labels,
            annotations,
            startsAt: '2026-11-23T10:00:00Z',
            endsAt: '0001-01-01T00:00:00Z',
            generatorURL: 'http://prometheus.example.com/graph?g0.expr=up',
            fingerprint: `fp-${groupKey}`,
          },
        ],
      };
    }

    it('posts the summary of a group with a 2,100-character label, unicode, dotted and slashed label names and a 4 KB description, and opens its issue', async () => {
      const labels = {
        alertname: 'PodCrashLooping',
        severity: 'critical',
        'app.kubernetes.io/name': 'api',
        'topology.kubernetes.io/zone': 'eu-west-1a',
        pod: `api-7f9c-${'x'.repeat(2_100)}`,
        team: 'Zahlungsverkehr 🚨 決済',
      };
      const annotations = {
        summary: 'api pods restart in a loop — Neustarts ✋',
        description: `${'Der Pod startet immer wieder neu. '.repeat(120)}`.slice(0, 4_096),
        runbook_url: 'https://runbooks.example.com/crashloop',
      };
      const res = await postWebhook(
        bot.url,
        'alertmanager',
        alertGroup('{}:{alertname="PodCrashLooping"}', labels, annotations),
      );
      expect(res.status).toBe(202);
      const issue = await issueTitled('[critical] PodCrashLooping', 'PodCrashLooping');
      const channel = incChannels().find((c) => c.name.endsWith('-podcrashlooping'));
      const summary = world.slack
        .messages(channel?.id)
        .find((m) => m.text?.startsWith('Incident: PodCrashLooping'));
      const blocks = JSON.stringify(summary?.blocks);
      expect(blocks).toContain('app.kubernetes.io/name=api');
      expect(blocks).toContain('Zahlungsverkehr 🚨 決済');
      expect(blocks).toContain('…');
      expect(issue.body).toContain('topology.kubernetes.io/zone=eu-west-1a');
      expect(channel?.topic.startsWith('CRITICAL PodCrashLooping')).toBe(true);
    });

    it("never lets a refused Slack post block the issue: it is logged at warn with Slack's error", async () => {
      world.slack.failNext({ method: 'chat.postMessage', error: 'invalid_blocks', times: 1_000 });
      try {
        const res = await postWebhook(
          bot.url,
          'alertmanager',
          alertGroup('{}:{alertname="QueueBacklog"}', { alertname: 'QueueBacklog', severity: 'warning' }, {}),
        );
        expect(res.status).toBe(202);
        const issue = await issueTitled('[warning] QueueBacklog', 'QueueBacklog');
        const channel = incChannels().find((c) => c.name.endsWith('-queuebacklog'));
        expect(issue.body).toContain(`<#${channel?.id}>`);
        const warning = await bot.waitForLog(
          (l) => l.msg === 'Slack refused an incident message; the incident goes on without it',
        );
        expect(warning).toMatchObject({
          level: 40,
          method: 'chat.postMessage',
          slackError: 'invalid_blocks',
        });
      } finally {
        world.slack.failNext({ method: 'chat.postMessage', error: 'invalid_blocks', times: 0 });
      }
    });
  });

  // grafana/alerting notify/test_receivers.go: the contact point "Test" button sends one alert
  // labelled alertname=TestAlert, instance=Grafana ("Notification test") under a group key that
  // carries the time of the click (older Grafana: labels + time.String()).
  describe("Grafana's contact-point test notification", () => {
    it('is answered 2xx with one short note in the test channel per click, and opens no incident', async () => {
      const notes = () =>
        world.slack.messages('COPS').filter((m) => m.text?.includes('Grafana test notification'));
      const click = alertFixture<{ groupKey: string; alerts: { startsAt: string }[] }>(
        'grafana-test-notification.json',
      );
      const first = await postWebhook(bot.url, 'grafana', click);
      expect([first.status, first.body.status]).toEqual([202, 'test']);
      // Grafana retries a delivery it saw fail; the same click is noted once.
      expect((await postWebhook(bot.url, 'grafana', click)).status).toBe(202);
      const older = {
        ...click,
        groupKey:
          '{alertname="TestAlert", instance="Grafana"}2026-11-23 10:05:00.123456789 +0000 UTC m=+300.000000001',
      };
      expect((await postWebhook(bot.url, 'grafana', older)).body.status).toBe('test');
      const posted = await world.slack.waitFor(() => notes().length === 2 && notes(), 10_000);
      expect(posted[0]?.text).toBe(
        'Grafana test notification received from contact point "opsbot"; the webhook works and no incident was opened.',
      );
      await bot.waitForLog((l) => l.msg === 'Grafana test notification received' && l.receiver === 'opsbot');
      await new Promise((r) => setTimeout(r, 500));
      expect(notes()).toHaveLength(2);
      // No incident: neither a channel nor an issue for TestAlert (other tests' incidents may still be syncing).
      expect(world.slack.channels().filter((c) => c.name.includes('testalert'))).toEqual([]);
      expect(world.github.issues(INCIDENT_REPO).filter((i) => i.title.includes('TestAlert'))).toEqual([]);
    });
  });
});
