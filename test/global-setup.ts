import { execFileSync } from 'node:child_process';
import { createConnection } from 'node:net';

/** Integration tests need a real Redis; fail early with a clear message instead of timing out per test. */
export default async function setup(): Promise<void> {
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  await new Promise<void>((resolve, reject) => {
    const socket = createConnection({ host: url.hostname, port: Number(url.port || 6379) });
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    socket.once('timeout', () =>
      reject(new Error(`Redis did not answer at ${url.host}; start redis-server first`)),
    );
    socket.once('error', (err) => reject(new Error(`Redis is not reachable at ${url.host}: ${err.message}`)));
  });
  // End-to-end tests run the built bot as its own process, as `npm start` does.
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
}
