import { RequestError } from '@octokit/request-error';
import { ExternalServiceError } from '../core/errors.js';

function retryAfterMs(headers: Record<string, unknown>, now: number): number | undefined {
  const retryAfter = Number(headers['retry-after']);
  if (Number.isFinite(retryAfter)) return retryAfter * 1000;
  if (headers['x-ratelimit-remaining'] === '0') {
    const reset = Number(headers['x-ratelimit-reset']);
    if (Number.isFinite(reset)) return Math.max(0, reset * 1000 - now);
  }
  return undefined;
}

/**
 * Octokit failures as our errors. Rate limits, 5xx and network trouble are worth retrying;
 * bad credentials, a missing repository or a rejected body are not. Octokit already redacts tokens.
 */
export function githubError(err: unknown, what: string): ExternalServiceError {
  if (err instanceof RequestError) {
    const headers = (err.response?.headers ?? {}) as Record<string, unknown>;
    const after = retryAfterMs(headers, Date.now());
    const rateLimited = err.status === 429 || (err.status === 403 && after !== undefined);
    const retryable = rateLimited || err.status >= 500 || err.status === 409;
    const detail = (err.response?.data as { message?: string } | undefined)?.message ?? err.message;
    return new ExternalServiceError('github', `GitHub answered ${err.status} to ${what}: ${detail}`, {
      status: rateLimited ? 429 : err.status,
      retryable,
      ...(after === undefined ? {} : { retryAfterMs: after }),
      cause: err,
    });
  }
  return new ExternalServiceError('github', `GitHub is unreachable (${what}).`, {
    retryable: true,
    cause: err,
  });
}
