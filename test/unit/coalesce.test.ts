import { afterEach, describe, expect, it, vi } from 'vitest';
import { coalesce } from '../../src/engine/coalesce.js';

describe('coalesce', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends at most one update per interval, always the latest value', async () => {
    // Fake timers make the schedule exact, whatever else the machine is doing.
    vi.useFakeTimers();
    const sent: { value: number; at: number }[] = [];
    const updates = coalesce(async (value: number) => {
      sent.push({ value, at: Date.now() });
    }, 100);
    for (let i = 1; i <= 20; i++) {
      updates.push(i);
      await vi.advanceTimersByTimeAsync(15);
    }
    await updates.flush();
    expect(sent.map((s) => s.value)).toEqual([1, 7, 14, 20]);
    for (let i = 1; i < sent.length - 1; i++)
      expect(sent[i]!.at - sent[i - 1]!.at).toBeGreaterThanOrEqual(100);
  });

  it('drops what is pending on cancel, but waits for the send in flight', async () => {
    const sent: number[] = [];
    let release = () => {};
    const updates = coalesce(
      (value: number) =>
        new Promise<void>((resolve) => {
          release = () => {
            sent.push(value);
            resolve();
          };
        }),
      1_000,
    );
    updates.push(1);
    await new Promise((r) => setTimeout(r, 5));
    updates.push(2);
    const cancelled = updates.cancel();
    release();
    await cancelled;
    expect(sent).toEqual([1]);
  });
});
