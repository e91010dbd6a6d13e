import { describe, expect, it } from 'vitest';
import { coalesce } from '../../src/engine/coalesce.js';

describe('coalesce', () => {
  it('sends at most one update per interval, always the latest value', async () => {
    const sent: { value: number; at: number }[] = [];
    const updates = coalesce(async (value: number) => {
      sent.push({ value, at: Date.now() });
    }, 100);
    for (let i = 1; i <= 20; i++) {
      updates.push(i);
      await new Promise((r) => setTimeout(r, 15));
    }
    await updates.flush();
    expect(sent.at(-1)?.value).toBe(20);
    expect(sent.length).toBeLessThanOrEqual(6);
    for (let i = 1; i < sent.length; i++) expect(sent[i]!.at - sent[i - 1]!.at).toBeGreaterThanOrEqual(80);
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
