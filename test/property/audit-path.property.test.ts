import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { auditPath } from '../../src/core/audit.js';

// Two records at one path: the second commit is refused (GitHub answers 422, "sha" wasn't supplied)
// and that record never lands. Each record id must therefore give its own path.
describe('auditPath', () => {
  const base = { time: '2026-12-08T00:48:19.352Z', action: 'rollback', environment: 'prod', target: 'api' };

  it('keeps the records of two jobs on one target in one second apart', () => {
    const first = auditPath('audit', { ...base, id: 'cmd-b482e3d6a76b386805ac-run-executed' });
    const second = auditPath('audit', { ...base, id: 'cmd-9f01c2aa0b7e4d1133bc-run-executed' });
    expect(first).not.toBe(second);
    expect(first).toBe(
      'audit/2026/12/08/20261208T004819Z-rollback-prod-api-cmd-b482e3d6a76b386805ac-run-executed.json',
    );
  });

  it('gives distinct record ids distinct paths, each one file name of safe characters', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 60 }),
        fc.string({ minLength: 1, maxLength: 60 }),
        (a, b) => {
          fc.pre(a !== b);
          const pa = auditPath('audit', { ...base, id: a });
          const pb = auditPath('audit', { ...base, id: b });
          expect(pa).not.toBe(pb);
          for (const p of [pa, pb]) expect(p.split('/').at(-1)).toMatch(/^[A-Za-z0-9._-]+\.json$/);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
