/**
 * Every failure a user can see carries a stable `code`, a `userMessage` safe to show in Slack,
 * and whether retrying could help. Code branches on `code` or the class, never on `message`.
 */
export type ErrorCode =
  | 'bad_input'
  | 'unknown_command'
  | 'unknown_environment'
  | 'forbidden'
  | 'cluster_denied'
  | 'not_found'
  | 'conflict'
  | 'refused'
  | 'paused'
  | 'busy'
  | 'expired'
  | 'config_invalid'
  | 'external_unavailable'
  | 'external_rejected'
  | 'rate_limited';

export interface OpsErrorOptions {
  userMessage?: string;
  retryable?: boolean;
  cause?: unknown;
}

export class OpsError extends Error {
  readonly code: ErrorCode;
  readonly userMessage: string;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: OpsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.userMessage = options.userMessage ?? message;
    this.retryable = options.retryable ?? false;
  }
}

/** The request itself is wrong: bad grammar, an unknown environment, a value out of bounds. */
export class UserInputError extends OpsError {
  constructor(message: string, options: OpsErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? 'bad_input', message, options);
  }
}

/** Policy said no. */
export class PermissionError extends OpsError {
  constructor(message: string, options: OpsErrorOptions = {}) {
    super('forbidden', message, options);
  }
}

/** The cluster's own RBAC refused the requester (a SubjectAccessReview said no); nothing was sent. */
export class ClusterDeniedError extends OpsError {
  constructor(message: string, options: OpsErrorOptions = {}) {
    super('cluster_denied', message, options);
  }
}

/** The target is not in a state that allows the action (paused, changed since planning, locked). */
export class StateError extends OpsError {
  constructor(
    code: 'not_found' | 'conflict' | 'paused' | 'busy' | 'expired',
    message: string,
    options: OpsErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

/**
 * opsbot declines to act, because acting now would also do something the requester did not ask
 * for (an undo that would discard a later change). Nothing was changed; the record says "refused".
 */
export class RefusalError extends OpsError {
  constructor(message: string, options: OpsErrorOptions = {}) {
    super('refused', message, options);
  }
}

export type ExternalSystem = 'slack' | 'github' | 'kubernetes' | 'redis' | 'git' | 'alertmanager';

/** Slack, GitHub, Kubernetes or Redis failed us. `retryAfterMs` comes from a Retry-After header. */
export class ExternalServiceError extends OpsError {
  readonly system: ExternalSystem;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  /** The service's own error code, e.g. Slack's `message_not_found`, for code that must tell them apart. */
  readonly reason: string | undefined;

  constructor(
    system: ExternalSystem,
    message: string,
    options: OpsErrorOptions & {
      status?: number;
      retryAfterMs?: number;
      code?: ErrorCode;
      reason?: string;
    } = {},
  ) {
    const code =
      options.code ??
      (options.status === 429
        ? 'rate_limited'
        : options.retryable === false
          ? 'external_rejected'
          : 'external_unavailable');
    super(code, message, { retryable: true, ...options });
    this.system = system;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.reason = options.reason;
  }
}

/** opsbot.yml, a runbook or the environment is invalid; the message names the file and key path. */
export class ConfigError extends OpsError {
  constructor(message: string, options: OpsErrorOptions = {}) {
    super('config_invalid', message, options);
  }
}

export function isOpsError(err: unknown): err is OpsError {
  return err instanceof OpsError;
}

/** What to tell a user about any error: our own message for OpsErrors, a generic line otherwise. */
export function userMessageOf(err: unknown): string {
  return isOpsError(err) ? err.userMessage : 'Something went wrong inside opsbot; the error was logged.';
}
