import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, until } from '../faults/support.js';

const INSTALL = 'apt-get install -y redis-server redis-sentinel';

/** Fails (never skips) when a binary is missing, saying how to install it. */
export function requireBinaries(...names: string[]): void {
  const missing = names.filter((name) => spawnSync(name, ['--version']).error !== undefined);
  if (missing.length > 0)
    throw new Error(`${missing.join(', ')} not found on PATH: install with \`${INSTALL}\``);
}

interface Node {
  port: number;
  child: ChildProcess;
}

async function startNode(binary: string, args: string[], port: number): Promise<Node> {
  const child = spawn(binary, args, { stdio: 'ignore' });
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
  // Refused connections while the node starts are expected; the loop below asks again.
  probe.on('error', () => {});
  try {
    await until(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`${binary} on port ${port} exited with ${child.exitCode}`);
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      },
      10_000,
      `${binary} on port ${port}`,
    );
  } finally {
    probe.disconnect();
  }
  return { port, child };
}

async function killNode(node: Node, signal: NodeJS.Signals): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = once(node.child, 'exit');
  process.kill(node.child.pid!, signal);
  await exited;
}

/** Asks one node; the connection is closed afterwards. */
async function ask<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/** Durable as a production Redis should be: AOF, fsync on every write, no RDB snapshots. */
const DURABLE = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];

export interface SentinelGroup {
  name: string;
  /** For REDIS_SENTINELS. */
  sentinels: string;
  masterPort: number;
  replicaPort: number;
  /** SIGKILL of the current master, by its PID. */
  killMaster(): Promise<void>;
  /** Keys matching `pattern` on the current master. */
  keys(pattern: string): Promise<string[]>;
  /** The master the sentinels agree on now. */
  currentMasterPort(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * One master, one replica and three sentinels (quorum 2) on loopback, in a temp dir. Sentinels
 * judge a master down after 1 s, so a failover takes a few seconds rather than a minute.
 */
export async function startSentinelGroup(): Promise<SentinelGroup> {
  requireBinaries('redis-server', 'redis-sentinel', 'redis-cli');
  const name = 'opsbot';
  const dir = mkdtempSync(join(tmpdir(), 'opsbot-sentinel-'));
  const nodes: Node[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => killNode(n, 'SIGTERM')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const masterPort = await freePort();
    const replicaPort = await freePort();
    const server = (port: number, extra: string[]) => {
      const data = join(dir, String(port));
      mkdirSync(data);
      return startNode(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--dir', data, ...DURABLE, ...extra],
        port,
      );
    };
    const master = await server(masterPort, []);
    nodes.push(master);
    nodes.push(await server(replicaPort, ['--replicaof', '127.0.0.1', String(masterPort)]));
    await until(
      () => ask(replicaPort, async (r) => (await r.info('replication')).includes('master_link_status:up')),
      10_000,
      'the replica to sync with the master',
    );

    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its config file, so each gets its own writable one.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      nodes.push(await startNode('redis-sentinel', [conf], port));
      sentinelPorts.push(port);
    }
    // Each sentinel must know the other two and the replica before a failover can be agreed.
    await until(
      async () => {
        for (const port of sentinelPorts) {
          const ok = await ask(port, async (r) => {
            const peers = (await r.call('SENTINEL', 'SENTINELS', name)) as unknown[];
            const replicas = (await r.call('SENTINEL', 'REPLICAS', name)) as unknown[];
            return peers.length === 2 && replicas.length === 1;
          });
          if (!ok) return false;
        }
        return true;
      },
      20_000,
      'the sentinels to discover each other and the replica',
    );
    const currentMasterPort = () =>
      ask(sentinelPorts[0]!, async (r) => {
        const addr = (await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[];
        return Number(addr[1]);
      });
    return {
      name,
      sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
      masterPort,
      replicaPort,
      currentMasterPort,
      keys: async (pattern) => ask(await currentMasterPort(), (r) => r.keys(pattern)),
      async killMaster() {
        const port = await currentMasterPort();
        const node = nodes.find((n) => n.port === port);
        if (!node) throw new Error(`no process of ours listens on the master port ${port}`);
        await killNode(node, 'SIGKILL');
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface RedisClusterNodes {
  /** For REDIS_CLUSTER_NODES. */
  nodes: string;
  ports: number[];
  stop(): Promise<void>;
}

/** Three masters in cluster mode on loopback, joined by `redis-cli --cluster create`. */
export async function startRedisCluster(): Promise<RedisClusterNodes> {
  requireBinaries('redis-server', 'redis-cli');
  const dir = mkdtempSync(join(tmpdir(), 'opsbot-cluster-'));
  const nodes: Node[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => killNode(n, 'SIGTERM')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      // The bus port is named explicitly: port + 10000 (the default) may be taken or out of range.
      const busPort = await freePort();
      const data = join(dir, String(port));
      mkdirSync(data);
      nodes.push(
        await startNode(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--dir',
            data,
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(busPort),
            '--cluster-config-file',
            join(data, 'nodes.conf'),
            '--cluster-node-timeout',
            '2000',
            ...DURABLE,
          ],
          port,
        ),
      );
      ports.push(port);
    }
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed:\n${create.stdout}${create.stderr}`);
    await until(
      async () => {
        for (const port of ports) {
          const info = await ask(port, (r) => r.call('CLUSTER', 'INFO') as Promise<string>);
          if (!info.includes('cluster_state:ok')) return false;
        }
        return true;
      },
      20_000,
      'the cluster to report cluster_state:ok on every node',
    );
    return { nodes: ports.map((p) => `127.0.0.1:${p}`).join(','), ports, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
