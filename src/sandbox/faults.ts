/** Injected faults for tests, answered with the Status and Retry-After the real server sends per code (https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#http-status-codes). */
import { KubeStatusError } from './errors.js';
import type { FaultRule } from './types.js';

const FAULT_DEFAULTS: Record<number, [string, string]> = {
  400: ['BadRequest', 'the server rejected our request for an unknown reason'],
  401: ['Unauthorized', 'Unauthorized'],
  403: ['Forbidden', 'forbidden'],
  404: ['NotFound', 'the server could not find the requested resource'],
  409: [
    'Conflict',
    'the object has been modified; please apply your changes to the latest version and try again',
  ],
  429: ['TooManyRequests', 'the server has received too many requests and has asked us to try again later'],
  500: [
    'InternalError',
    'an error on the server ("injected fault") has prevented the request from succeeding',
  ],
  502: ['InternalError', 'an error on the server ("Bad Gateway") has prevented the request from succeeding'],
  503: ['ServiceUnavailable', 'the server is currently unable to handle the request'],
  504: [
    'Timeout',
    'the server was unable to return a response in the time allotted, but may still be processing the request',
  ],
};

function faultError(rule: FaultRule): KubeStatusError {
  const [reason, message] = FAULT_DEFAULTS[rule.status] ?? [
    'InternalError',
    `injected fault (${rule.status})`,
  ];
  const retryAfter = rule.retryAfterSeconds ?? (rule.status === 429 ? 1 : undefined);
  return new KubeStatusError(
    rule.status,
    rule.reason ?? reason,
    rule.message ?? message,
    retryAfter === undefined ? undefined : { retryAfterSeconds: retryAfter },
    retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) },
  );
}

interface ActiveFault {
  rule: FaultRule;
  remaining: number;
}

function matches(rule: Pick<FaultRule, 'method' | 'path'>, method: string, pathname: string): boolean {
  if (rule.path) rule.path.lastIndex = 0;
  return (!rule.method || rule.method.toUpperCase() === method) && (!rule.path || rule.path.test(pathname));
}

/** Faults queued by failNext: each matching request takes one, in order, until its count runs out. */
export class FaultQueue {
  private faults: ActiveFault[] = [];
  private writes: { match: Pick<FaultRule, 'method' | 'path'>; write: () => void }[] = [];

  /** Another client's write, run once just before the next matching request is served. */
  addWrite(match: Pick<FaultRule, 'method' | 'path'>, write: () => void): void {
    this.writes.push({ match, write });
  }

  /** Runs the writes queued for this request, each once. */
  interleave(method: string, pathname: string): void {
    const due = this.writes.filter(({ match }) => matches(match, method, pathname));
    this.writes = this.writes.filter((w) => !due.includes(w));
    for (const { write } of due) write();
  }

  add(rule: FaultRule): void {
    this.faults.push({ rule, remaining: rule.times ?? 1 });
  }

  clear(): void {
    this.faults = [];
    this.writes = [];
  }

  /** The error to answer this request with, if a queued fault matches it. */
  take(method: string, pathname: string): KubeStatusError | undefined {
    const index = this.faults.findIndex(({ rule }) => matches(rule, method, pathname));
    const fault = this.faults[index];
    if (!fault) return undefined;
    fault.remaining--;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return faultError(fault.rule);
  }
}
