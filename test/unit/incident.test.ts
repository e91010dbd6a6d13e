import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runbookArgs } from '../../src/alerts/incident-service.js';
import { AlertmanagerWebhook, fromAlertmanager } from '../../src/alerts/sources/alertmanager/index.js';
import { fromGrafana, GrafanaWebhook } from '../../src/alerts/sources/grafana/index.js';
import {
  fromPagerDuty,
  PagerDutyEnvelope,
  verifyPagerDutySignature,
} from '../../src/alerts/sources/pagerduty/index.js';
import { loadConfig } from '../../src/config/load.js';
import type { Alert } from '../../src/core/alert.js';
import {
  channelName,
  decideGroup,
  firingCount,
  matchRoutes,
  mergeAlerts,
  type StoredAlert,
} from '../../src/core/incident.js';
import { knownActions } from '../../src/features.js';
import { loadRunbooks } from '../../src/runbooks/load.js';
import { kinds } from '../helpers/registry.js';

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/alerts/${name}`, import.meta.url), 'utf8'));

const alert = (fingerprint: string, status: Alert['status'], at: string): Alert => ({
  fingerprint,
  status,
  labels: { alertname: 'X' },
  annotations: {},
  ...(status === 'firing' ? { startsAt: at } : { startsAt: '2026-11-23T09:00:00Z', endsAt: at }),
});

describe('source payloads', () => {
  it('reads an Alertmanager v4 notification into one alert group', () => {
    const group = fromAlertmanager(AlertmanagerWebhook.parse(fixture('alertmanager-firing.json')), 1);
    expect(group).toMatchObject({ source: 'alertmanager', status: 'firing', truncatedAlerts: 0 });
    expect(group.groupKey).toBe('{}/{severity="critical"}:{alertname="HighErrorRate"}');
    expect(group.alerts.map((a) => a.fingerprint)).toEqual(['a1b2c3d4e5f60001', 'a1b2c3d4e5f60002']);
    expect(group.alerts[0]?.endsAt).toBe('0001-01-01T00:00:00Z');
  });

  it('refuses a payload of another webhook version, naming the field', () => {
    const bad = { ...(fixture('alertmanager-firing.json') as object), version: '3' };
    const result = AlertmanagerWebhook.safeParse(bad);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['version']);
  });

  it('reads a Grafana unified-alerting notification with its silence and dashboard links', () => {
    const group = fromGrafana(GrafanaWebhook.parse(fixture('grafana-firing.json')), 1);
    expect(group.source).toBe('grafana');
    expect(group.alerts[0]).toMatchObject({
      fingerprint: '6f1e0c3ab2d45e78',
      dashboardURL: 'https://grafana.example.com/d/disk?orgId=1',
    });
  });

  it('reads PagerDuty v3 events: triggered fires, resolved resolves, the rest are ignored', () => {
    const triggered = fromPagerDuty(PagerDutyEnvelope.parse(fixture('pagerduty-triggered.json')), 1);
    expect(triggered).toMatchObject({
      act: true,
      group: { groupKey: 'PGR0VU2', status: 'firing', commonLabels: { severity: 'p1' } },
    });
    const resolved = fromPagerDuty(PagerDutyEnvelope.parse(fixture('pagerduty-resolved.json')), 2);
    expect(resolved.act && resolved.group.status).toBe('resolved');
    const annotated = PagerDutyEnvelope.parse(fixture('pagerduty-triggered.json'));
    annotated.event.event_type = 'incident.annotated';
    expect(fromPagerDuty(annotated, 3)).toEqual({
      act: false,
      reason: 'event type incident.annotated is not acted on',
    });
  });

  it('verifies PagerDuty signatures, any of several', () => {
    const body = Buffer.from('{"event":{}}');
    const sign = (secret: string) => `v1=${createHmac('sha256', secret).update(body).digest('hex')}`;
    expect(verifyPagerDutySignature(body, `${sign('old')},${sign('new')}`, ['new'])).toBe(true);
    expect(verifyPagerDutySignature(body, sign('other'), ['new'])).toBe(false);
    expect(verifyPagerDutySignature(Buffer.from('{"event":1}'), sign('new'), ['new'])).toBe(false);
    expect(verifyPagerDutySignature(body, undefined, ['new'])).toBe(false);
  });
});

describe('what changed in a group', () => {
  it('tells new, resolved and stale alerts apart by fingerprint and time', () => {
    const known: Record<string, StoredAlert> = {};
    let c = mergeAlerts(known, [
      alert('a', 'firing', '2026-11-23T10:00:00Z'),
      alert('b', 'firing', '2026-11-23T10:00:00Z'),
    ]);
    expect(c.newlyFiring).toEqual(['a', 'b']);
    c = mergeAlerts(known, [
      alert('a', 'resolved', '2026-11-23T10:05:00Z'),
      alert('b', 'firing', '2026-11-23T10:00:00Z'),
    ]);
    expect(c).toEqual({ newlyFiring: [], newlyResolved: ['a'], stale: 0 });
    expect(firingCount({ alerts: known })).toBe(1);
    // A late redelivery of the old firing notification does not bring "a" back.
    c = mergeAlerts(known, [alert('a', 'firing', '2026-11-23T10:00:00Z')]);
    expect(c.stale).toBe(1);
    expect(known.a?.status).toBe('resolved');
  });

  it('reopens within the window, opens a linked incident after it, ignores old news', () => {
    const hour = 3_600_000;
    const resolvedAt = Date.parse('2026-11-23T11:00:00Z');
    const current = {
      status: 'resolved' as const,
      resolvedAt,
      source: 'alertmanager' as const,
      alerts: { a: { status: 'resolved' as const, labels: {}, annotations: {}, at: resolvedAt } },
    };
    const refire = { alerts: [alert('a', 'firing', '2026-11-23T11:10:00Z')] };
    expect(decideGroup(current, refire, resolvedAt + 10 * 60_000, hour)).toBe('reopen');
    expect(decideGroup(current, refire, resolvedAt + 2 * hour, hour)).toBe('open-linked');
    expect(
      decideGroup(current, { alerts: [alert('a', 'firing', '2026-11-23T10:00:00Z')] }, resolvedAt + 1, hour),
    ).toBe('ignore');
    expect(decideGroup(undefined, refire, 0, hour)).toBe('open');
    expect(
      decideGroup(undefined, { alerts: [alert('a', 'resolved', '2026-11-23T10:00:00Z')] }, 0, hour),
    ).toBe('ignore');
  });
});

describe('channel names and routes', () => {
  it('renders Slack-legal names: lowercase, [a-z0-9-_], at most 80 characters, suffixed when taken', () => {
    const vars = { prefix: 'inc', date: '20261123', title: 'API High Error Rate!' };
    expect(channelName('{{prefix}}-{{date}}-{{title}}', vars)).toBe('inc-20261123-api-high-error-rate');
    expect(channelName('{{prefix}}-{{date}}-{{title}}', vars, 1)).toBe('inc-20261123-api-high-error-rate-2');
    const long = channelName('{{prefix}}-{{title}}', { prefix: 'inc', title: 'x'.repeat(200) }, 12);
    expect(long.length).toBe(80);
    expect(long.endsWith('-13')).toBe(true);
    expect(channelName('{{title}}', { title: 'Ünïcode / 日本 ' })).toMatch(/^[a-z0-9_-]+$/);
  });

  it('invites the union of every route whose labels match', () => {
    const routes = [
      { match: { severity: 'critical' }, invite: ['@sre-oncall'] },
      { match: { team: 'api' }, invite: ['U0API', '@sre-oncall'] },
      { match: { team: 'db' }, invite: ['U0DB'] },
    ];
    expect(matchRoutes(routes, { severity: 'critical', team: 'api' })).toEqual(['@sre-oncall', 'U0API']);
    expect(matchRoutes(routes, { severity: 'warning' })).toEqual([]);
  });
});

describe('runbook buttons on an incident', () => {
  const runbooks = loadRunbooks('runbooks', loadConfig('test/fixtures/opsbot.yml', knownActions()), kinds);
  const byName = (name: string) => runbooks.find((r) => r.name === name)!;

  it('fills parameters from the alert and skips runbooks it cannot fill', () => {
    const labels = { alertname: 'HighErrorRate', health_url: 'https://api.example.com/healthz' };
    expect(runbookArgs(byName('rollback-on-error-rate'), labels, 'api')).toEqual([
      'deployment=api',
      'health_url=https://api.example.com/healthz',
    ]);
    // Without a health URL on the alert the required parameter cannot be filled: no button.
    expect(
      runbookArgs(byName('rollback-on-error-rate'), { alertname: 'HighErrorRate' }, 'api'),
    ).toBeUndefined();
    // A label value that could smuggle flags or quotes is never copied into a command.
    expect(
      runbookArgs(byName('rollback-on-error-rate'), { health_url: 'x --emergency' }, 'api'),
    ).toBeUndefined();
  });
});
