/** Request routing: API paths to discovery documents or resource routes (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris). */
import { parse as parseYaml } from 'yaml';
import { badRequest } from './errors.js';
import {
  apiGroup,
  apiGroupList,
  findType,
  type ResourceType,
  resourceList,
  versionInfo,
} from './resource-types.js';
import type { JsonObject } from './types.js';

export interface ParsedRequest {
  method: string;
  pathname: string;
  query: Record<string, string>;
  contentType: string | undefined;
  body: unknown;
  bodyError: string | undefined;
}

export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  type: ResourceType;
  namespace: string;
  name: string | undefined;
  subresource: string | undefined;
}

type Target = { discovery: JsonObject } | { route: Route };

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
export const VERB_BY_METHOD: Record<string, string> = {
  GET: 'get',
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** Maps the segments after /api/v1 or /apis/{group}/{version} to a resource route. */
function resolveRoute(group: string, version: string, rest: string[]): Target | undefined {
  if (rest.length === 0) {
    const list = resourceList(group, version);
    return list ? { discovery: list } : undefined;
  }
  const namespaceScoped =
    rest[0] === 'namespaces' &&
    rest.length >= 3 &&
    !(rest.length === 3 && NAMESPACE_SUBRESOURCES.has(rest[2] ?? ''));
  if (namespaceScoped) {
    const [, namespace = '', plural = '', name, subresource, ...extra] = rest;
    const type = findType(group, version, plural, true);
    return type && extra.length === 0 ? { route: { type, namespace, name, subresource } } : undefined;
  }
  const [plural = '', name, subresource, ...extra] = rest;
  const type = findType(group, version, plural, false);
  if (!type || extra.length > 0 || (type.namespaced && name !== undefined)) return undefined;
  return { route: { type, namespace: '', name, subresource } };
}

export function resolveTarget(pathname: string): Target | undefined {
  const segments = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [root, a, b, ...rest] = segments;
  if (root === 'version' && segments.length === 1) return { discovery: versionInfo() };
  if (root === 'api') {
    if (a === undefined)
      return { discovery: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] } };
    return resolveRoute(
      '',
      a,
      [b, ...rest].filter((s): s is string => s !== undefined),
    );
  }
  if (root !== 'apis') return undefined;
  if (a === undefined) return { discovery: apiGroupList() };
  if (b === undefined) {
    const group = apiGroup(a);
    return group ? { discovery: { kind: 'APIGroup', apiVersion: 'v1', ...group } } : undefined;
  }
  return resolveRoute(a, b, rest);
}

/** A boolean query parameter as the API server decodes one: present and not "false" or "0" is true, even empty. */
export function queryFlag(query: Record<string, string>, name: string): boolean {
  const value = query[name];
  return value !== undefined && value !== '0' && value.toLowerCase() !== 'false';
}

export function isDryRun(query: Record<string, string>): boolean {
  const value = query.dryRun;
  if (value === undefined || value === '') return false;
  if (value !== 'All')
    throw badRequest(`Invalid dryRun value: ${JSON.stringify(value)}; only "All" is supported`);
  return true;
}

export function parseBody(
  raw: Buffer,
  contentType: string | undefined,
): { body: unknown; error: string | undefined } {
  if (raw.length === 0) return { body: undefined, error: undefined };
  const text = raw.toString('utf8');
  const type = mediaType(contentType);
  try {
    return { body: type.includes('yaml') ? parseYaml(text) : JSON.parse(text), error: undefined };
  } catch (err) {
    return { body: text, error: err instanceof Error ? err.message : String(err) };
  }
}

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}
