import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertFixture, INCIDENT_REPO, postWebhook, WEBHOOK_TOKEN } from '../helpers/alerts.js';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import {
  AUDIT_REPO,
  GITHUB_TOKEN,
  readyIncidentChannel,
  slash,
  startWorld,
  USERS,
  type World,
} from '../helpers/world.js';

const POSTMORTEM_REPO = 'acme/postmortems';

const CONFIG = `
environments:
  prod: { context: prod, namespace: apps, protected: true }
roles:
  oncall:
    members: [${USERS.oncall.id}]
    can:
      - { actions: [status, incident.resolve, incident.postmortem], environments: [prod] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
incidents:
  repo: ${INCIDENT_REPO}
  channelPrefix: inc
  archiveAfter: 1h
  postmortem: { repo: ${POSTMORTEM_REPO}, dir: postmortems, auto: true }
`;

interface Pull {
  number: number;
  html_url: string;
  title: string;
  head: { ref: string };
}

describe('postmortem drafts as pull requests', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG });
    world.github.createRepo(INCIDENT_REPO, { files: { 'README.md': '# incidents\n' } });
    world.github.createRepo(POSTMORTEM_REPO, { files: { 'README.md': '# postmortems\n' } });
    bot = await startBotProcess({ ...world.env, OPSBOT_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  const issue = () => world.github.issues(INCIDENT_REPO)[0];
  const pulls = async (): Promise<Pull[]> => {
    const res = await fetch(`${world.github.url}/repos/${POSTMORTEM_REPO}/pulls?state=all`, {
      headers: { authorization: `token ${GITHUB_TOKEN}` },
    });
    return (await res.json()) as Pull[];
  };

  it('/ops incident postmortem opens a pull request and links it in the channel and on the issue; auto on resolve updates it', async () => {
    expect(
      (await postWebhook(bot.url, 'alertmanager', alertFixture('alertmanager-firing.json'))).status,
    ).toBe(202);
    const opened = await world.github.waitFor(() => issue(), 15_000);
    const incidentId = /<!-- opsbot:incident:([^ ]+) -->/.exec(opened.body ?? '')?.[1];
    expect(incidentId).toBeDefined();
    const channel = await readyIncidentChannel(world);
    const where = { channel: { id: channel.id, name: channel.name } };

    // An action in the channel, so the draft has one to list with its audit commit.
    expect((await slash(bot.url, world, 'status', where)).body.text).toMatch(/^Accepted: status api in prod/);
    await world.github.waitFor(
      () => issue()?.comments.find((c) => c.body.includes('**status api**')),
      15_000,
    );

    const ack = await slash(bot.url, world, 'incident postmortem', where);
    expect(ack.body.text).toMatch(/^Accepted: incident postmortem in prod/);
    let pull: Pull | undefined;
    for (let waited = 0; !pull && waited < 15_000; waited += 200) {
      [pull] = await pulls();
      if (!pull) await new Promise((r) => setTimeout(r, 200));
    }
    expect(pull).toMatchObject({
      title: 'Postmortem: [critical] HighErrorRate',
      head: { ref: `postmortem/${incidentId}` },
    });
    const reply = await world.slack.waitFor(
      () =>
        world.slack.messages(channel.id).find((m) => m.text?.includes(`Postmortem draft: ${pull?.html_url}`)),
      15_000,
    );
    expect(reply).toBeDefined();
    await world.github.waitFor(
      () =>
        issue()?.comments.find((c) =>
          c.body.includes(`Postmortem draft: ${POSTMORTEM_REPO}#${pull?.number}`),
        ),
      15_000,
    );
    const draft = () =>
      Object.entries(world.github.files(POSTMORTEM_REPO, `postmortem/${incidentId}`)).find(([path]) =>
        path.startsWith('postmortems/'),
      );
    expect(draft()?.[0]).toMatch(new RegExp(`^postmortems/\\d{8}-${incidentId}\\.md$`));
    expect(draft()?.[1]).toContain('– ongoing');

    // The alerts resolve: incidents.postmortem.auto updates the same pull request and says so in the channel.
    expect(
      (await postWebhook(bot.url, 'alertmanager', alertFixture('alertmanager-resolved.json'))).status,
    ).toBe(202);
    await world.slack.waitFor(
      () => world.slack.messages(channel.id).find((m) => m.text?.startsWith(':memo: Postmortem draft:')),
      20_000,
    );
    const text = await world.github.waitFor(() => {
      const content = draft()?.[1];
      return content && !content.includes('ongoing') && content;
    }, 15_000);
    expect(text).toContain('**Impact window:** 2026-11-23T10:00:00Z – ');
    // GITHUB_API_URL here is the fake's root, so the audit links point at it, as they would at a GitHub Enterprise Server.
    const auditCommits = `${world.github.url}/${AUDIT_REPO}/commits/main/audit/`;
    const action = text.split('\n').find((l) => l.includes('**status api in prod**'));
    expect(action).toContain('requested by @\u200dalice, no approval needed, outcome: **executed**');
    expect(action).toMatch(
      new RegExp(
        `\\(\\[audit commit\\]\\(${auditCommits.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\S+-status-prod-api-\\S+\\.json\\)\\)$`,
      ),
    );
    // The link names the file its audit commit wrote.
    const linked = /commits\/main\/(audit\/\S+\.json)\)\)$/.exec(action ?? '')?.[1] ?? '';
    expect(Object.keys(world.github.files(AUDIT_REPO))).toContain(linked);
    expect(text).toContain('alert **HighErrorRate** resolved');
    expect(text).toContain('## Root cause');
    expect(await pulls()).toHaveLength(1);
    const onIssue = issue()?.comments.filter((c) => c.body.includes('<!-- opsbot:postmortem:')) ?? [];
    expect(onIssue).toHaveLength(1);
  });
});
