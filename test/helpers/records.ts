import type { AuditRecord } from '../../src/core/audit.js';

/** A rollback of api in prod by alice, as the audit queue records it; each test overrides what it is about. */
export function rollbackRecord(change: Partial<AuditRecord> = {}): AuditRecord {
  return {
    id: 'cmd-1-executed',
    time: '2026-11-23T03:15:02.000Z',
    outcome: 'executed',
    action: 'rollback',
    requester: { id: 'UONCALL1', name: 'alice' },
    environment: 'prod',
    target: 'api',
    args: {},
    message: 'Rolled back to revision 2; rollout complete.',
    ...change,
  };
}
