import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * One full garbage collection once the process has started. Start-up leaves garbage behind (module
 * loading, config parsing, schema building), and V8 arms the memory reducer that returns idle
 * memory to the system only after a full collection: a process that goes idle straight after
 * start-up can otherwise sit on that garbage until its first busy minute.
 * gc() is exposed just for this call and hidden again, as Jest's leak detector does it.
 * Returns false when it skipped the collection: gc() was hidden again by another thread meanwhile.
 */
export function collectStartupGarbage(): boolean {
  const hidden = typeof (globalThis as { gc?: unknown }).gc !== 'function';
  setFlagsFromString('--expose-gc');
  try {
    // The flag is the process's, and the worker thread may hide it again between these two lines:
    // then this thread skips its collection rather than throw.
    const gc = runInNewContext("typeof gc === 'function' ? gc : undefined") as (() => void) | undefined;
    gc?.();
    return gc !== undefined;
  } finally {
    if (hidden) setFlagsFromString('--no-expose-gc');
  }
}
