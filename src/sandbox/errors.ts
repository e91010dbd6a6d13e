/** v1 Status failures with the reasons, messages and details of the real server (https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#response-status-kind). */
import type { JsonObject } from './types.js';

export interface GroupResource {
  group: string;
  plural: string;
  kind: string;
}

export interface FieldError {
  reason: 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueNotSupported';
  field: string;
  message: string;
}

/** A failure the API answers with a v1 Status object; also thrown by the state helpers. */
export class KubeStatusError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: JsonObject | undefined;
  readonly headers: Record<string, string>;

  constructor(
    code: number,
    reason: string,
    message: string,
    details?: JsonObject,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'KubeStatusError';
    this.code = code;
    this.reason = reason;
    this.details = details;
    this.headers = headers;
  }

  toStatus(): JsonObject {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

const qualified = (t: GroupResource) => (t.group ? `${t.plural}.${t.group}` : t.plural);
const qualifiedKind = (t: GroupResource) => (t.group ? `${t.kind}.${t.group}` : t.kind);
export const statusDetails = (t: GroupResource, name: string): JsonObject => ({
  name,
  ...(t.group ? { group: t.group } : {}),
  kind: t.plural,
});

export const notFound = (t: GroupResource, name: string) =>
  new KubeStatusError(404, 'NotFound', `${qualified(t)} "${name}" not found`, statusDetails(t, name));
export const alreadyExists = (t: GroupResource, name: string) =>
  new KubeStatusError(
    409,
    'AlreadyExists',
    `${qualified(t)} "${name}" already exists`,
    statusDetails(t, name),
  );
export const conflict = (
  t: GroupResource,
  name: string,
  why = 'the object has been modified; please apply your changes to the latest version and try again',
) =>
  new KubeStatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(t)} "${name}": ${why}`,
    statusDetails(t, name),
  );
export const badRequest = (message: string) => new KubeStatusError(400, 'BadRequest', message);
export const methodNotAllowed = (
  message = 'the server does not allow this method on the requested resource',
) => new KubeStatusError(405, 'MethodNotAllowed', message, {});
/** A verb the resource does not serve, e.g. watch on pods here: NewMethodNotSupported's Status. */
export const verbNotSupported = (t: GroupResource, verb: string) =>
  new KubeStatusError(
    405,
    'MethodNotAllowed',
    `${verb} is not supported on resources of kind "${qualified(t)}"`,
    {
      ...(t.group ? { group: t.group } : {}),
      kind: t.plural,
    },
  );
/** A watch from a resourceVersion older than the history kept (https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses). */
export const expired = (message: string) => new KubeStatusError(410, 'Expired', message);
export const routeNotFound = () =>
  new KubeStatusError(404, 'NotFound', 'the server could not find the requested resource', {});
export const unsupportedMediaType = (accepted: string[]) =>
  new KubeStatusError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );

export function invalid(t: GroupResource, name: string, errors: FieldError[]): KubeStatusError {
  const lines = errors.map((e) => `${e.field}: ${e.message}`);
  const summary = lines.length === 1 ? lines[0] : `[${lines.join(', ')}]`;
  return new KubeStatusError(422, 'Invalid', `${qualifiedKind(t)} "${name}" is invalid: ${summary}`, {
    name,
    ...(t.group ? { group: t.group } : {}),
    kind: t.kind,
    causes: errors.map((e) => ({ reason: e.reason, message: e.message, field: e.field })),
  });
}

/** The 422 the real server gives when a JSON patch cannot be applied (failed `test`, missing path). */
export const patchNotApplicable = (detail: string) =>
  new KubeStatusError(422, 'Invalid', 'the server rejected our request due to an error in our request', {
    causes: [{ message: detail }],
  });

export const required = (field: string, detail?: string): FieldError => ({
  reason: 'FieldValueRequired',
  field,
  message: detail ? `Required value: ${detail}` : 'Required value',
});
export const invalidValue = (field: string, value: unknown, detail: string): FieldError => ({
  reason: 'FieldValueInvalid',
  field,
  message: `Invalid value: ${typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? 'null')}: ${detail}`,
});
export const forbiddenField = (field: string, detail: string): FieldError => ({
  reason: 'FieldValueForbidden',
  field,
  message: `Forbidden: ${detail}`,
});
export const notSupported = (field: string, value: string, supported: string[]): FieldError => ({
  reason: 'FieldValueNotSupported',
  field,
  message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((v) => JSON.stringify(v)).join(', ')}`,
});
