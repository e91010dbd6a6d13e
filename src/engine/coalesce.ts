/**
 * Wraps a message updater so that bursts collapse: at most one call per `intervalMs`, always with
 * the latest value, and `flush` sends whatever is pending at once. Slack allows about one update
 * per second per channel, and a rollout can change state faster than that.
 */
export function coalesce<T>(send: (value: T) => Promise<void>, intervalMs: number) {
  let lastSent = 0;
  let pending: { value: T } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const fire = () => {
    timer = undefined;
    if (!pending) return inFlight;
    const { value } = pending;
    pending = undefined;
    lastSent = Date.now();
    inFlight = inFlight.then(() => send(value)).catch(() => undefined);
    return inFlight;
  };

  return {
    push(value: T): void {
      pending = { value };
      if (timer) return;
      const wait = Math.max(0, lastSent + intervalMs - Date.now());
      timer = setTimeout(fire, wait);
    },
    async flush(): Promise<void> {
      if (timer) clearTimeout(timer);
      await fire();
    },
    /** Drops what is pending (a final message follows) and waits for the send in flight. */
    async cancel(): Promise<void> {
      if (timer) clearTimeout(timer);
      timer = undefined;
      pending = undefined;
      await inFlight;
    },
  };
}
