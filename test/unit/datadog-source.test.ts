import { describe, expect, it } from 'vitest';
import { datadog, tagLabels } from '../../src/alerts/sources/datadog/index.js';
import { sourceById } from '../../src/alerts/sources/index.js';
import type { WebhookDelivery } from '../../src/alerts/sources/source.js';
import { alertFixture } from '../helpers/alerts.js';

const delivery = (headers: Record<string, string> = {}): WebhookDelivery => ({
  raw: Buffer.from('{}'),
  header: (name) => headers[name],
});

function parsed(name: string, change: Record<string, unknown> = {}) {
  const result = datadog.parse({ ...alertFixture<Record<string, unknown>>(name), ...change }, 1_000);
  if (!result.ok) throw new Error(result.reason);
  return result;
}

describe('the Datadog source', () => {
  it('is registered, so POST /webhooks/datadog exists', () => {
    expect(sourceById('datadog')).toBe(datadog);
  });

  it('reads a Triggered monitor notification as a firing alert group with its tags as labels', () => {
    const result = parsed('datadog-triggered.json');
    expect(datadog.isTest(result.payload)).toBeUndefined();
    if (!('group' in result)) throw new Error('no group');
    expect(result.group).toMatchObject({
      source: 'datadog',
      groupKey: '9bd4ac313a4d1e8fae2482df7b776282',
      status: 'firing',
      title: 'API 5xx rate is high',
      commonLabels: {
        alertname: 'API 5xx rate is high',
        env: 'prod',
        deployment: 'api',
        team: 'payments',
        severity: 'critical',
        monitor_id: '148412733',
      },
      commonAnnotations: { summary: expect.stringContaining('was > 0.05') },
    });
    expect(result.group.commonLabels).not.toHaveProperty('monitor');
    expect(result.group.alerts).toEqual([
      expect.objectContaining({
        status: 'firing',
        startsAt: new Date(1795427100000).toISOString(),
        generatorURL: 'https://app.datadoghq.com/event/event?id=7709362217484218375',
      }),
    ]);
  });

  it('reads Recovered as the same group resolved, later than it fired', () => {
    const fired = parsed('datadog-triggered.json');
    const recovered = parsed('datadog-recovered.json');
    if (!('group' in fired) || !('group' in recovered)) throw new Error('no group');
    expect(recovered.group.groupKey).toBe(fired.group.groupKey);
    expect(recovered.group.status).toBe('resolved');
    expect(recovered.group.alerts[0]?.fingerprint).toBe(fired.group.alerts[0]?.fingerprint);
    expect(recovered.group.alerts[0]?.endsAt).toBe(new Date(1795427700000).toISOString());
  });

  it('knows a test notification by the [TEST] Datadog puts in its title', () => {
    const result = parsed('datadog-test-notification.json');
    expect(datadog.isTest(result.payload)).toEqual({
      key: '148412733:7709380012243316512',
      receiver: '148412733',
      from: 'monitor "API 5xx rate is high"',
    });
  });

  it('takes the transition from the title when the payload has no alert_transition (the default payload)', () => {
    const { alert_transition: _, ...rest } = alertFixture<Record<string, unknown>>('datadog-recovered.json');
    const result = datadog.parse(rest, 1);
    expect(result.ok && 'group' in result && result.group.status).toBe('resolved');
    const warn = parsed('datadog-triggered.json', { alert_transition: 'Re-Warn' });
    expect('group' in warn && warn.group.commonLabels.severity).toBe('warning');
  });

  it('acknowledges and ignores a Null transition, and refuses a body without the default fields', () => {
    const result = parsed('datadog-triggered.json', { alert_transition: 'Null' });
    expect(result).toMatchObject({ ignored: 'alert transition null is not acted on' });
    const bad = datadog.parse({ title: 'no id' }, 1);
    expect(bad.ok).toBe(false);
  });

  it('names a delivery by its event id and transition: a redelivery is the same, a recovery is not', () => {
    const fired = parsed('datadog-triggered.json');
    const again = parsed('datadog-triggered.json', { last_updated: '1795427160000' });
    const recovered = parsed('datadog-recovered.json', { id: alertFixture('datadog-triggered.json').id });
    if (!('group' in fired) || !('group' in again) || !('group' in recovered)) throw new Error('no group');
    const id = (p: typeof fired) => ('group' in p ? datadog.deliveryId(p.payload, p.group, delivery()) : '');
    expect(id(again)).toBe(id(fired));
    expect(id(recovered)).not.toBe(id(fired));
  });

  it('reads $TAGS as key:value labels, leaving out tags without a value', () => {
    expect(tagLabels('env:prod, kube_deployment:api,monitor,url:http://x:1')).toEqual({
      env: 'prod',
      kube_deployment: 'api',
      url: 'http://x:1',
    });
  });

  it('authenticates with the same bearer token as the other sources', () => {
    const credentials = { token: 'tok', allowUnauthenticated: false, signingSecrets: {} };
    expect(datadog.authenticate(delivery({ authorization: 'Bearer tok' }), credentials)).toBe('ok');
    expect(datadog.authenticate(delivery({ authorization: 'Bearer nope' }), credentials)).toBe('denied');
    expect(datadog.authenticate(delivery(), { ...credentials, token: undefined })).toBe('unconfigured');
  });
});
