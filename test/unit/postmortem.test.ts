import { describe, expect, it } from 'vitest';
import { Incident } from '../../src/core/incident.js';
import {
  postmortemBranch,
  postmortemMarkdown,
  postmortemPath,
  postmortemTitle,
} from '../../src/core/postmortem.js';

const audit = { repo: 'acme/ops-audit', branch: 'main', webUrl: 'https://github.com' };
const t = (iso: string) => Date.parse(iso);

function resolvedIncident(): Incident {
  return Incident.parse({
    id: 'a1b2c3d4e5-mfx1',
    key: 'alertmanager:{}:{alertname="HighErrorRate"}',
    source: 'alertmanager',
    title: 'HighErrorRate',
    severity: 'critical',
    status: 'resolved',
    openedAt: t('2026-11-23T03:01:00Z'),
    resolvedAt: t('2026-11-23T03:40:00Z'),
    resolvedBy: 'the alerts',
    channelName: 'inc-20261123-higherrorrate',
    alerts: {
      fp1: {
        status: 'resolved',
        labels: { alertname: 'HighErrorRate', deployment: 'api' },
        at: t('2026-11-23T03:39:30Z'),
        startsAt: '2026-11-23T02:58:00Z',
      },
    },
    actions: [
      {
        time: t('2026-11-23T03:12:00Z'),
        who: '@alice',
        approver: '@bob',
        what: 'rollback api in prod',
        outcome: 'executed',
        recordId: 'rec-1',
        auditPath: 'audit/2026/11/23/20261123T031200Z-rollback-prod-api-rec1.json',
      },
      {
        time: t('2026-11-23T03:05:00Z'),
        who: '@carol',
        what: 'status api in prod',
        outcome: 'executed',
        recordId: 'rec-0',
      },
    ],
    verdicts: [
      {
        time: t('2026-11-23T03:20:00Z'),
        follows: 'rec-1',
        verdict: 'resolved',
        line: 'Verdict on rollback api in prod: resolved, the alerts cleared 8m after the action.',
      },
    ],
  });
}

describe('postmortem draft', () => {
  it('names the branch and the file after the incident, so a re-run finds them', () => {
    const incident = resolvedIncident();
    expect(postmortemBranch(incident)).toBe('postmortem/a1b2c3d4e5-mfx1');
    expect(postmortemPath('/postmortems/', incident)).toBe('postmortems/20261123-a1b2c3d4e5-mfx1.md');
    expect(postmortemTitle(incident)).toBe('Postmortem: [critical] HighErrorRate');
  });

  it('holds the title, severity and the impact window from the first alert to the resolve', () => {
    const md = postmortemMarkdown(resolvedIncident(), audit, { repo: 'acme/incidents', number: 7 });
    expect(md.split('\n')[0]).toBe('# Postmortem: [critical] HighErrorRate');
    expect(md).toContain('**Severity:** critical');
    expect(md).toContain('**Impact window:** 2026-11-23T02:58:00Z – 2026-11-23T03:40:00Z (42m)');
    expect(md).toContain('acme/incidents#7');
  });

  it('lists alerts, actions and verdicts in time order, each action with requester, approver, outcome, verdict and audit commit', () => {
    const timeline = postmortemMarkdown(resolvedIncident(), audit)
      .split('## Timeline')[1]
      ?.split('## People')[0]
      ?.trim()
      .split('\n');
    expect(timeline).toEqual([
      '- 2026-11-23T02:58:00Z alert **HighErrorRate** fired',
      '- 2026-11-23T03:01:00Z incident opened (alertmanager)',
      '- 2026-11-23T03:05:00Z **status api in prod** requested by @\u200dcarol, no approval needed, outcome: **executed**',
      '- 2026-11-23T03:12:00Z **rollback api in prod** requested by @\u200dalice, approved by @\u200dbob, outcome: **executed**, verdict: **resolved** ([audit commit](https://github.com/acme/ops-audit/commits/main/audit/2026/11/23/20261123T031200Z-rollback-prod-api-rec1.json))',
      '- 2026-11-23T03:20:00Z Verdict on rollback api in prod: resolved, the alerts cleared 8m after the action.',
      '- 2026-11-23T03:39:30Z alert **HighErrorRate** resolved',
      '- 2026-11-23T03:40:00Z incident resolved by the alerts',
    ]);
  });

  it('names the people involved once each, and leaves the sections people write empty', () => {
    const md = postmortemMarkdown(resolvedIncident(), audit);
    const people = md.split('## People involved')[1]?.split('## Root cause')[0]?.trim();
    expect(people).toBe('- @\u200dalice\n- @\u200dbob\n- @\u200dcarol');
    expect(md).toMatch(/## Root cause\n\n## What went well\n\n## Action items\n$/);
  });

  it('escapes alert text so a label cannot mention people or inject HTML', () => {
    const incident = resolvedIncident();
    incident.title = '<img src=x> @everyone #12';
    const md = postmortemMarkdown(incident, audit);
    expect(md).not.toContain('<img');
    expect(md).not.toMatch(/@everyone|#12/);
  });

  it('says the impact is ongoing for an incident not yet resolved', () => {
    const incident = resolvedIncident();
    incident.status = 'open';
    expect(postmortemMarkdown(incident, audit)).toContain('2026-11-23T02:58:00Z – ongoing');
  });
});
