import { ExternalServiceError, type OpsError, StateError } from '../core/errors.js';
import { ApiException } from './client-node.js';

/** The Status message the API server sent, when the body carries one. */
function statusMessage(body: unknown): string | undefined {
  const text = typeof body === 'string' ? body : JSON.stringify(body ?? '');
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : undefined;
  } catch {
    return undefined;
  }
}

function retryAfterMs(headers: Record<string, string> | undefined): number | undefined {
  const raw = headers?.['retry-after'] ?? headers?.['Retry-After'];
  const seconds = raw === undefined ? Number.NaN : Number(raw);
  return Number.isFinite(seconds) ? seconds * 1000 : undefined;
}

/** Maps a client-node failure to our error codes; `what` names the object, e.g. `deployment "api" in apps`. */
export function kubeError(err: unknown, what: string): OpsError {
  if (err instanceof ApiException) {
    const detail = statusMessage(err.body) ?? `HTTP ${err.code}`;
    switch (err.code) {
      case 404:
        return new StateError('not_found', `There is no ${what}.`, { cause: err });
      case 409:
        return new StateError('conflict', `${what} changed while we were acting on it (${detail}).`, {
          retryable: true,
          cause: err,
        });
      case 401:
      case 403:
        return new ExternalServiceError(
          'kubernetes',
          // A 403 names the user it refused: opsbot itself, or the person it impersonated.
          err.code === 401
            ? `Kubernetes refused opsbot's credentials for ${what}: ${detail}`
            : `Kubernetes does not allow ${what}: ${detail}`,
          {
            status: err.code,
            retryable: false,
            cause: err,
          },
        );
      case 422:
      case 400:
      case 415:
        return new ExternalServiceError(
          'kubernetes',
          `Kubernetes rejected the change to ${what}: ${detail}`,
          {
            status: err.code,
            retryable: false,
            cause: err,
          },
        );
      default: {
        const after = retryAfterMs(err.headers);
        return new ExternalServiceError(
          'kubernetes',
          `Kubernetes answered ${err.code} for ${what}: ${detail}`,
          {
            status: err.code,
            retryable: err.code === 429 || err.code >= 500,
            ...(after === undefined ? {} : { retryAfterMs: after }),
            cause: err,
          },
        );
      }
    }
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  return new ExternalServiceError(
    'kubernetes',
    `The Kubernetes API is unreachable${typeof code === 'string' ? ` (${code})` : ''}.`,
    {
      retryable: true,
      cause: err,
    },
  );
}
