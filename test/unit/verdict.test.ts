import { describe, expect, it } from 'vitest';
import { verdictRecord } from '../../src/alerts/verify.js';
import { OpsbotConfig } from '../../src/config/schema.js';
import { AuditRecord } from '../../src/core/audit.js';
import { decideVerdict, verdictLine } from '../../src/core/verdict.js';

describe('decideVerdict', () => {
  it('is resolved as soon as nothing fires, even before the window ends', () => {
    expect(decideVerdict({ baseline: ['a', 'b'], firing: [], windowEnded: false })).toBe('resolved');
  });

  it('keeps watching while the same alerts fire within the window', () => {
    expect(decideVerdict({ baseline: ['a', 'b'], firing: ['a'], windowEnded: false })).toBeUndefined();
  });

  it('is unchanged when the alerts still fire at the end of the window', () => {
    expect(decideVerdict({ baseline: ['a', 'b'], firing: ['a', 'b'], windowEnded: true })).toBe('unchanged');
    expect(decideVerdict({ baseline: ['a', 'b'], firing: ['b'], windowEnded: true })).toBe('unchanged');
  });

  it('is worse when an alert fires that was not firing when the action ran, even if others cleared', () => {
    expect(decideVerdict({ baseline: ['a'], firing: ['c'], windowEnded: false })).toBe('worse');
    expect(decideVerdict({ baseline: ['a'], firing: ['a', 'c'], windowEnded: true })).toBe('worse');
  });
});

describe('verdictLine', () => {
  it('says what happened and when, in words', () => {
    expect(
      verdictLine({
        verdict: 'resolved',
        action: 'rollback api in prod',
        afterMs: 42_000,
        windowMs: 600_000,
        firing: 0,
      }),
    ).toBe('Verdict on rollback api in prod: resolved, the alerts cleared 42s after the action.');
    expect(
      verdictLine({
        verdict: 'unchanged',
        action: 'restart worker in prod',
        afterMs: 600_000,
        windowMs: 600_000,
        firing: 2,
      }),
    ).toBe('Verdict on restart worker in prod: unchanged, 2 alert(s) still firing 10m after the action.');
  });
});

describe('incidents.verify in opsbot.yml', () => {
  const base = {
    environments: { prod: { namespace: 'apps' } },
    roles: {},
    audit: { repo: 'acme/ops-audit' },
  };
  it('watches 10 minutes by default, takes durations, and refuses what is not one', () => {
    expect(OpsbotConfig.parse({ ...base, incidents: { repo: 'acme/incidents' } }).incidents?.verify).toEqual({
      window: 600_000,
      every: 15_000,
    });
    const set = OpsbotConfig.parse({
      ...base,
      incidents: {
        repo: 'acme/incidents',
        verify: { window: '20s' },
        alertmanager: { url: 'http://am:9093' },
      },
    }).incidents;
    expect(set?.verify.window).toBe(20_000);
    expect(set?.alertmanager?.url).toBe('http://am:9093');
    expect(
      OpsbotConfig.safeParse({ ...base, incidents: { repo: 'acme/incidents', verify: { window: 'soon' } } })
        .success,
    ).toBe(false);
    expect(
      OpsbotConfig.safeParse({
        ...base,
        incidents: { repo: 'acme/incidents', alertmanager: { url: 'ftp://am' } },
      }).success,
    ).toBe(false);
  });
});

describe('verdictRecord', () => {
  it('is a new, valid audit record that links the action it judges', () => {
    const action = AuditRecord.parse({
      id: 'cmd-1-executed',
      time: '2026-12-07T03:00:00.000Z',
      outcome: 'executed',
      action: 'rollback',
      requester: { id: 'U1', name: 'alice' },
      environment: 'prod',
      target: 'api',
      message: 'rolled back',
      recordId: 'r7k2',
      channel: { id: 'CINC', name: 'inc-x' },
      incident: { repo: 'acme/incidents', issue: 4 },
      jobId: 'cmd-1',
      emergency: true,
      approver: { id: 'U2', name: 'bob' },
    });
    const record = AuditRecord.parse(
      verdictRecord(action, 'resolved', Date.parse('2026-12-07T03:00:42Z'), 'line'),
    );
    expect(record).toMatchObject({
      id: 'verdict-cmd-1-executed',
      outcome: 'resolved',
      action: 'verify rollback',
      follows: { id: 'cmd-1-executed', recordId: 'r7k2' },
      incident: { repo: 'acme/incidents', issue: 4 },
      channel: { id: 'CINC', name: 'inc-x' },
    });
    // Not the action's own: no undo id, no job, no second break-glass review, no approver.
    expect(record).not.toHaveProperty('recordId');
    expect(record).not.toHaveProperty('jobId');
    expect(record).not.toHaveProperty('emergency');
    expect(record).not.toHaveProperty('approver');
  });
});
