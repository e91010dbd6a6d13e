import { describe, expect, it } from 'vitest';
import { groupOfQueued, QueuedDelivery } from '../../src/alerts/delivery.js';
import { alertmanager } from '../../src/alerts/sources/alertmanager/index.js';
import { AlertGroup } from '../../src/core/alert.js';
import { alertFixture } from '../helpers/alerts.js';

const RECEIVED_AT = Date.parse('2026-11-23T10:01:00Z');

function groupAtTheDoor(name: string) {
  const parsed = alertmanager.parse(alertFixture(name), RECEIVED_AT);
  if (!parsed.ok || !('group' in parsed)) throw new Error(`${name} does not parse to a group`);
  return parsed.group;
}

describe('an alerts job, as the worker reads it', () => {
  it('groups the raw body as the webhook read it, at the time the webhook received it', () => {
    const raw = JSON.stringify(alertFixture('alertmanager-firing.json'));
    const job = QueuedDelivery.parse({ source: 'alertmanager', raw, receivedAt: RECEIVED_AT });
    const read = groupOfQueued(job);
    expect(read).toEqual({ group: groupAtTheDoor('alertmanager-firing.json') });
    expect(AlertGroup.parse((read as { group: unknown }).group).status).toBe('firing');
  });

  it('still reads a job queued by the release before, which held the group itself', () => {
    const group = groupAtTheDoor('alertmanager-resolved.json');
    expect(groupOfQueued({ group })).toEqual({ group });
  });

  it('says why a job cannot become a group, so it fails for good with its raw body kept', () => {
    expect(groupOfQueued({ source: 'nagios', raw: '{}', receivedAt: 1 })).toEqual({
      invalid: 'no alert source is registered as nagios',
    });
    expect(groupOfQueued({ source: 'grafana', raw: '{not json', receivedAt: 1 })).toEqual({
      invalid: 'the body is not JSON',
    });
    const wrong = groupOfQueued({ source: 'alertmanager', raw: '{"version":"3"}', receivedAt: 1 });
    expect('invalid' in wrong && wrong.invalid).toContain('version');
    expect(groupOfQueued({ jobs: [] })).toEqual({ invalid: 'the job is not a queued delivery' });
  });

  it('passes on what a body asks when it asks for nothing (a PagerDuty ping)', () => {
    const ping = JSON.stringify({
      event: {
        id: '01DEN0SNKMQF5XWSL5WXD9F6PS',
        event_type: 'pagey.ping',
        resource_type: 'pagey',
        occurred_at: '2026-11-23T10:00:00.000Z',
        agent: null,
        client: null,
        data: { message: 'Hello from your friend Pagey!', type: 'ping' },
      },
    });
    const read = groupOfQueued({ source: 'pagerduty', raw: ping, receivedAt: RECEIVED_AT });
    expect(read).toHaveProperty('ignored');
  });
});
