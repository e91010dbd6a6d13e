import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, startBotProcess } from '../helpers/bot-process.js';
import { AUDIT_REPO, startWorld, USERS, type World } from '../helpers/world.js';

const TOKEN = 'test-webhook-token-3b9d';
const CONFIG = `
environments:
  staging: { context: staging, namespace: apps }
roles:
  oncall:
    members: [${USERS.oncall.id}]
    can:
      - { actions: [rollback, restart, scale, status, history], environments: [staging] }
audit: { repo: ${AUDIT_REPO}, branch: main, dir: audit }
incidents: { repo: acme/incidents, channelPrefix: inc, routes: [] }
`;

/** An Alertmanager v4 body whose fields are each sometimes replaced by something hostile. */
const hostile = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 300 }), fc.constant(null));
const labels = fc.dictionary(fc.string({ maxLength: 20 }), fc.oneof(fc.string({ maxLength: 40 }), hostile), {
  maxKeys: 4,
});
const maybe = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: hostile });
const alert = fc.record(
  {
    status: maybe(fc.constantFrom('firing', 'resolved')),
    labels: maybe(labels),
    annotations: maybe(labels),
    startsAt: maybe(fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
    endsAt: maybe(fc.constant('0001-01-01T00:00:00Z')),
    generatorURL: maybe(fc.webUrl()),
    fingerprint: maybe(
      fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 16, maxLength: 16 }),
    ),
  },
  { requiredKeys: [] },
);
const alertmanagerBody = fc.record(
  {
    version: maybe(fc.constant('4')),
    groupKey: maybe(fc.string({ maxLength: 60 })),
    status: maybe(fc.constantFrom('firing', 'resolved')),
    receiver: maybe(fc.constant('opsbot')),
    groupLabels: maybe(labels),
    commonLabels: maybe(labels),
    commonAnnotations: maybe(labels),
    externalURL: maybe(fc.webUrl()),
    alerts: maybe(fc.array(alert, { maxLength: 3 })),
    truncatedAlerts: maybe(fc.nat()),
  },
  { requiredKeys: [] },
);
const raw = fc.oneof(
  alertmanagerBody.map((b) => JSON.stringify(b)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('', '{', '[]', 'null', '{"alerts":null}', '{"__proto__":{"polluted":1}}', '\u0000'),
);

describe('alert webhook validators under random JSON', () => {
  let world: World;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    world = await startWorld({ config: CONFIG });
    world.github.createRepo('acme/incidents', { files: { 'README.md': '# incidents\n' } });
    bot = await startBotProcess({ ...world.env, OPSBOT_WEBHOOK_TOKEN: TOKEN });
  });

  afterAll(async () => {
    await bot?.stop();
    await world?.close();
  });

  it('answers 2xx or 4xx, never 5xx, on every receiver', async () => {
    const probe = await fetch(`${bot!.url}/webhooks/alertmanager`, { method: 'POST', body: '{}' });
    await probe.text();
    // A missing route is a failure, never a reason to skip.
    expect(probe.status, 'POST /webhooks/alertmanager is served').not.toBe(404);
    const seen: Record<number, number> = {};
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('alertmanager', 'grafana', 'pagerduty'),
        raw,
        fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
        fc.boolean(),
        async (source, body, contentType, authorized) => {
          const res = await fetch(`${bot!.url}/webhooks/${source}`, {
            method: 'POST',
            headers: {
              'content-type': contentType,
              ...(authorized ? { authorization: `Bearer ${TOKEN}` } : {}),
            },
            body,
          });
          await res.text();
          seen[res.status] = (seen[res.status] ?? 0) + 1;
          expect(res.status, `${source} ${body.slice(0, 200)}`).toBeLessThan(500);
          if (!authorized) expect(res.status).toBe(401);
        },
      ),
      { numRuns: 300 },
    );
    expect(Object.keys(seen).some((s) => Number(s) >= 400)).toBe(true);
    expect(bot!.child.exitCode).toBeNull();
  }, 60_000);
});
