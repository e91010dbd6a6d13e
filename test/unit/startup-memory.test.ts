import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { collectStartupGarbage } from '../../src/startup-memory.js';

describe('collectStartupGarbage', () => {
  it('runs a full collection and leaves gc() hidden again', async () => {
    // A WeakRef's target stays alive for the turn that made it: make it, then let the turn end.
    const ref = (() => new WeakRef({ startup: 'garbage'.repeat(1000) }))();
    await nextTurn();
    expect(collectStartupGarbage()).toBe(true);
    expect(ref.deref()).toBeUndefined();
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined');
  });
});
