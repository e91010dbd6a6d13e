import { mkdtempSync, symlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { findOnPath, prepare } from '../global-setup.js';

/** A PATH holding only these programs (links to the installed ones), so the others are "missing". */
function pathWith(programs: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'opsbot-path-'));
  for (const program of programs) {
    const real = findOnPath(program, process.env.PATH);
    if (!real) throw new Error(`${program} is needed to run this test`);
    symlinkSync(real, join(dir, program));
  }
  return dir;
}

describe('test global setup', () => {
  it('without REDIS_URL and without redis-server, fails at once with the command that installs it', async () => {
    const PATH = pathWith(['prometheus', 'prometheus-alertmanager', 'kubectl']);
    const started = Date.now();
    await expect(prepare({ PATH })).rejects.toThrow(
      'The tests need redis-server, which is not on PATH. Install with:\n  apt-get install redis-server',
    );
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('names Prometheus, Alertmanager and kubectl with their install commands when they are missing', async () => {
    await expect(prepare({ PATH: pathWith([]), REDIS_URL: 'redis://127.0.0.1:1' })).rejects.toThrow(
      'The tests need prometheus, prometheus-alertmanager, kubectl, which are not on PATH. Install with:\n  apt-get install prometheus prometheus-alertmanager\n  apt-get install kubectl',
    );
  });

  it('without REDIS_URL, starts redis-server on a free loopback port, hands out its URL, and stops it by PID', async () => {
    const PATH = pathWith(['redis-server', 'prometheus', 'prometheus-alertmanager', 'kubectl']);
    const prepared = await prepare({ PATH });
    const url = prepared.env.REDIS_URL ?? '';
    expect(url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(url).not.toBe('redis://127.0.0.1:6379');
    const redis = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    await redis.connect();
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();
    await prepared.stop();
    // Nothing listens there any more.
    const { port } = new URL(url);
    const refused = await new Promise<string>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: Number(port) });
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('with REDIS_URL where nothing answers, says so instead of letting every test time out', async () => {
    const PATH = pathWith(['prometheus', 'prometheus-alertmanager', 'kubectl']);
    await expect(prepare({ PATH, REDIS_URL: 'redis://127.0.0.1:1' })).rejects.toThrow(
      'Nothing answers at REDIS_URL (127.0.0.1:1)',
    );
  });
});
