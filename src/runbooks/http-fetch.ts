import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';
import { hostOf, matchHost } from '../core/runbook.js';

/**
 * Addresses a runbook's http-check may only reach when its allowHosts names the host exactly: an
 * http-check runs inside the cluster network, so "any URL" would reach whatever the bot can.
 * Ranges: RFC 6890 special-purpose registries (IANA), RFC 1918, RFC 6598 (CGNAT), RFC 4193 (fc00::/7).
 */
const RANGES: [kind: string, cidrs: [string, number, 'ipv4' | 'ipv6'][]][] = [
  [
    'loopback',
    [
      ['127.0.0.0', 8, 'ipv4'],
      ['::1', 128, 'ipv6'],
    ],
  ],
  [
    'link-local or cloud metadata',
    [
      ['169.254.0.0', 16, 'ipv4'],
      ['fe80::', 10, 'ipv6'],
    ],
  ],
  [
    'private',
    [
      ['10.0.0.0', 8, 'ipv4'],
      ['172.16.0.0', 12, 'ipv4'],
      ['192.168.0.0', 16, 'ipv4'],
      // Unique local addresses, among them AWS's metadata service fd00:ec2::254.
      ['fc00::', 7, 'ipv6'],
    ],
  ],
  ['carrier-grade NAT', [['100.64.0.0', 10, 'ipv4']]],
  [
    'reserved',
    [
      ['0.0.0.0', 8, 'ipv4'],
      ['192.0.0.0', 24, 'ipv4'],
      ['198.18.0.0', 15, 'ipv4'],
      ['224.0.0.0', 4, 'ipv4'],
      ['240.0.0.0', 4, 'ipv4'],
      ['::', 128, 'ipv6'],
      ['ff00::', 8, 'ipv6'],
    ],
  ],
];

const LISTS = RANGES.map(([kind, cidrs]) => {
  const list = new BlockList();
  for (const [network, prefix, family] of cidrs) list.addSubnet(network, prefix, family);
  return { kind, list };
});

/** IPv4 carried inside IPv6 (::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d) is judged as the IPv4 it is. */
function embeddedIPv4(address: string): string | undefined {
  const m = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (!m) return undefined;
  if (m[1]) return m[1];
  const hi = Number.parseInt(m[2] ?? '0', 16);
  const lo = Number.parseInt(m[3] ?? '0', 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/** The kind of non-public address this is ("loopback", "private", …), or undefined for a public one. */
export function restrictedKind(address: string): string | undefined {
  const v4 = embeddedIPv4(address);
  const [ip, family] = v4
    ? [v4, 'ipv4' as const]
    : [address, isIP(address) === 6 ? ('ipv6' as const) : ('ipv4' as const)];
  return LISTS.find(({ list }) => list.check(ip, family))?.kind;
}

/** The check reached, or was about to reach, somewhere its runbook does not allow. */
export class HostRefused extends Error {
  override readonly name = 'HostRefused';
}

export interface HttpCheckOptions {
  allowHosts: readonly string[];
  timeoutMs: number;
  /** Follow redirects (within allowHosts); off when the step expects a 3xx itself. */
  followRedirects: boolean;
  maxRedirects?: number;
  /** The resolver; tests stand in for DNS with it. */
  lookup?: typeof dnsLookup;
}

function refusal(host: string, address: string, kind: string): HostRefused {
  return new HostRefused(
    `${host} resolves to ${address}, a ${kind} address; only a host named exactly in allowHosts may`,
  );
}

/** Admits the URL's host by the allow-list; answers whether non-public addresses are allowed for it. */
function admit(url: URL, allowHosts: readonly string[]): { host: string; anyAddress: boolean } {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HostRefused(`${url.protocol} is not http or https`);
  }
  const host = hostOf(url.toString());
  const match = matchHost(allowHosts, host);
  if (!match) throw new HostRefused(`${host} is not in the runbook's allowHosts`);
  if (isIP(host) && match !== 'exact') throw new HostRefused(`${host} is not in the runbook's allowHosts`);
  const kind = isIP(host) ? restrictedKind(host) : undefined;
  if (kind && match !== 'exact') throw refusal(host, host, kind);
  return { host, anyAddress: match === 'exact' };
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * Resolves the name and refuses it if any address is not public (unless the host is named exactly);
 * the connection then goes to the very addresses checked, so a DNS answer cannot change in between.
 */
function guardedLookup(host: string, anyAddress: boolean, resolver: typeof dnsLookup) {
  return (
    hostname: string,
    options: { family?: number | string; all?: boolean },
    callback: LookupCallback,
  ) => {
    const family =
      options.family === 'IPv6' ? 6 : options.family === 'IPv4' ? 4 : Number(options.family ?? 0);
    resolver(hostname, { all: true, family: family === 4 || family === 6 ? family : 0 }, (err, addresses) => {
      if (err) return callback(err, []);
      if (!anyAddress) {
        for (const a of addresses) {
          const kind = restrictedKind(a.address);
          if (kind) return callback(refusal(host, a.address, kind) as NodeJS.ErrnoException, []);
        }
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first)
        return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}

function requestOnce(
  url: URL,
  anyAddress: boolean,
  host: string,
  signal: AbortSignal,
  resolver: typeof dnsLookup,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: 'GET',
      signal,
      lookup: guardedLookup(host, anyAddress, resolver) as never,
      // A fresh socket: a pooled one, opened for another runbook's check, was never checked against this list.
      agent: false,
      headers: { 'user-agent': 'opsbot-http-check' },
    });
    req.on('response', resolve);
    req.on('error', (err) => reject(err instanceof HostRefused ? err : (signal.reason ?? err)));
    req.end();
  });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * GETs the URL as a runbook http-check: only hosts on the runbook's allow-list, only public addresses
 * unless the host is listed by name, redirects followed by hand and only within the list.
 */
export async function httpCheck(target: string, options: HttpCheckOptions): Promise<{ status: number }> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  let url = new URL(target);
  for (let hop = 0; ; hop++) {
    const { host, anyAddress } = admit(url, options.allowHosts);
    const res = await requestOnce(url, anyAddress, host, signal, options.lookup ?? dnsLookup);
    res.resume();
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (!options.followRedirects || !REDIRECTS.has(status) || !location) return { status };
    if (hop >= (options.maxRedirects ?? 5))
      throw new HostRefused(`more than ${options.maxRedirects ?? 5} redirects`);
    url = new URL(location, url);
  }
}
