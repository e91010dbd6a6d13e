import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { auditRecords, slash, startWorld, USERS, type World } from '../helpers/world.js';

const CONFIG = `
environments:
  staging: { context: staging, namespace: apps }
roles:
  developer:
    members: [${USERS.developer.id}]
    can:
      - { actions: [env.open, env.close, env.list], environments: [staging] }
audit: { repo: acme/ops-audit, branch: main, dir: audit }
preview:
  environment: staging
  template: ${resolve('runbooks/preview')}
  host: "{{name}}.preview.test"
  image: ghcr.io/acme/web
  maxPerUser: 1
`;

describe('preview limits under concurrency', () => {
  let world: World;
  let bot: BotProcess;

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG });
    bot = await startBotProcess(world.env);
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('lets one person open no more than their limit, even with several opens at the same moment', async () => {
    const names = ['race-a', 'race-b', 'race-c'];
    const acks = await Promise.all(
      names.map((name) => slash(bot.url, world, `env open ${name}`, { user: USERS.developer })),
    );
    const jobs = acks.map((a) => /job (cmd-[0-9a-f]+)/.exec(a.body.text ?? '')?.[1]);
    expect(jobs.every(Boolean)).toBe(true);
    const finals = await world.github.waitFor(() => {
      const found = auditRecords(world).filter((r) => jobs.includes(String(r.jobId)));
      return found.length === 3 ? found : undefined;
    }, 30_000);

    const open = world.kube.namespaces().filter((ns) => ns.metadata.name.startsWith('preview-race-'));
    expect(open).toHaveLength(1);
    expect(finals.filter((r) => r.outcome === 'executed')).toHaveLength(1);
    const refused = finals.filter((r) => r.outcome === 'failed');
    expect(refused).toHaveLength(2);
    for (const r of refused) expect(String(r.message)).toMatch(/the limit is 1 per person/);
  });
});
