import type { LookupAddress, lookup as realLookup } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostRefused, httpCheck, restrictedKind } from '../../src/runbooks/http-fetch.js';

/** A resolver standing in for DNS an attacker controls: names map to whatever address they like. */
function fakeDns(names: Record<string, string>): typeof realLookup {
  return ((hostname: string, _options: unknown, callback: (e: Error | null, a: LookupAddress[]) => void) => {
    const address = names[hostname];
    if (!address) return callback(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), []);
    callback(null, [{ address, family: address.includes(':') ? 6 : 4 }]);
  }) as unknown as typeof realLookup;
}

describe('which addresses are not public', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.9.9.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['169.254.169.254', 'link-local or cloud metadata'],
    ['64:ff9b::a9fe:a9fe', 'link-local or cloud metadata'],
    ['fe80::1', 'link-local or cloud metadata'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['192.168.1.1', 'private'],
    ['fd00:ec2::254', 'private'],
    ['fc00::1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.254', 'carrier-grade NAT'],
    ['0.0.0.0', 'reserved'],
    ['::', 'reserved'],
    ['224.0.0.1', 'reserved'],
  ])('%s is %s', (address, kind) => {
    expect(restrictedKind(address)).toBe(kind);
  });

  it.each(['8.8.8.8', '172.32.0.1', '100.128.0.1', '2001:4860:4860::8888', '::ffff:8.8.8.8'])(
    '%s is public',
    (address) => {
      expect(restrictedKind(address)).toBeUndefined();
    },
  );
});

describe('an http-check', () => {
  let server: Server;
  let port: number;
  const hits: { url: string; host: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push({ url: req.url ?? '', host: req.headers.host ?? '' });
      if (req.url === '/slow') return; // never answers
      if (req.url === '/to-metadata') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      } else if (req.url === '/to-elsewhere') {
        res.writeHead(301, { location: `http://other.example.net:${port}/ok` }).end();
      } else if (req.url === '/to-ok') {
        res.writeHead(307, { location: '/ok' }).end();
      } else {
        res.writeHead(200).end('ok');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const check = (url: string, allowHosts: string[], extra: { lookup?: typeof realLookup } = {}) =>
    httpCheck(url, { allowHosts, timeoutMs: 2_000, followRedirects: true, ...extra });

  async function refused(work: Promise<unknown>): Promise<string> {
    const err = await work.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HostRefused);
    return (err as Error).message;
  }

  it('refuses a host outside allowHosts without a request', async () => {
    const before = hits.length;
    expect(await refused(check(`http://127.0.0.1:${port}/secret`, ['*.example.com']))).toBe(
      "127.0.0.1 is not in the runbook's allowHosts",
    );
    expect(await refused(check('http://169.254.169.254/latest/meta-data/', ['*.example.com']))).toMatch(
      /not in the runbook's allowHosts/,
    );
    expect(hits.length).toBe(before);
  });

  it('refuses a listed-by-pattern name that resolves to a loopback, private or metadata address', async () => {
    const dns = fakeDns({
      'loop.example.com': '127.0.0.1',
      'meta.example.com': '169.254.169.254',
      'ec2.example.com': 'fd00:ec2::254',
    });
    const before = hits.length;
    expect(await refused(check(`http://loop.example.com:${port}/`, ['*.example.com'], { lookup: dns }))).toBe(
      'loop.example.com resolves to 127.0.0.1, a loopback address; only a host named exactly in allowHosts may',
    );
    expect(
      await refused(check('http://meta.example.com/latest/', ['*.example.com'], { lookup: dns })),
    ).toMatch(/169\.254\.169\.254, a link-local or cloud metadata address/);
    expect(await refused(check('http://ec2.example.com/', ['*.example.com'], { lookup: dns }))).toMatch(
      /fd00:ec2::254, a private address/,
    );
    expect(hits.length).toBe(before);
  });

  it('reaches a private address when allowHosts names the host exactly, connecting to the address it checked', async () => {
    expect(await check(`http://127.0.0.1:${port}/ok`, ['127.0.0.1'])).toEqual({ status: 200 });
    expect(await check(`http://localhost:${port}/ok`, ['localhost'])).toEqual({ status: 200 });
    const dns = fakeDns({ 'svc.example.com': '127.0.0.1' });
    expect(await check(`http://svc.example.com:${port}/named`, ['svc.example.com'], { lookup: dns })).toEqual(
      {
        status: 200,
      },
    );
    expect(hits.at(-1)).toEqual({ url: '/named', host: `svc.example.com:${port}` });
  });

  it('follows redirects only within allowHosts', async () => {
    expect(await check(`http://127.0.0.1:${port}/to-ok`, ['127.0.0.1'])).toEqual({ status: 200 });
    expect(hits.at(-1)?.url).toBe('/ok');
    expect(await refused(check(`http://127.0.0.1:${port}/to-metadata`, ['127.0.0.1']))).toBe(
      "169.254.169.254 is not in the runbook's allowHosts",
    );
    expect(await refused(check(`http://127.0.0.1:${port}/to-elsewhere`, ['127.0.0.1']))).toBe(
      "other.example.net is not in the runbook's allowHosts",
    );
    // A step that expects the redirect itself sees it, unfollowed.
    expect(
      await httpCheck(`http://127.0.0.1:${port}/to-metadata`, {
        allowHosts: ['127.0.0.1'],
        timeoutMs: 2_000,
        followRedirects: false,
      }),
    ).toEqual({ status: 302 });
  });

  it('gives up after its timeout', async () => {
    const err = await httpCheck(`http://127.0.0.1:${port}/slow`, {
      allowHosts: ['127.0.0.1'],
      timeoutMs: 300,
      followRedirects: true,
    }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
  });
});
