/** Label and field selectors of list requests (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors). */
import { badRequest } from './errors.js';
import type { KubeObject, LabelSelector } from './types.js';
import { isObject } from './values.js';

export interface Requirement {
  key: string;
  operator: 'in' | 'notin' | 'exists' | 'absent';
  values: string[];
}

const KEY = '[A-Za-z0-9][-A-Za-z0-9_./]*';
const VALUE = '[-A-Za-z0-9_.]*';
const ABSENT_RE = new RegExp(String.raw`^!\s*(${KEY})$`);
const SET_RE = new RegExp(String.raw`^(${KEY})\s+(in|notin)\s*\(([^)]*)\)$`);
const EQUALITY_RE = new RegExp(String.raw`^(${KEY})\s*(==|=|!=)\s*(${VALUE})$`);
const EXISTS_RE = new RegExp(`^(${KEY})$`);

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function parseRequirement(text: string): Requirement {
  let m = ABSENT_RE.exec(text);
  if (m) return { key: m[1] ?? '', operator: 'absent', values: [] };
  m = SET_RE.exec(text);
  if (m) {
    const values = (m[3] ?? '').split(',').map((v) => v.trim());
    return { key: m[1] ?? '', operator: m[2] === 'in' ? 'in' : 'notin', values };
  }
  m = EQUALITY_RE.exec(text);
  if (m) return { key: m[1] ?? '', operator: m[2] === '!=' ? 'notin' : 'in', values: [m[3] ?? ''] };
  m = EXISTS_RE.exec(text);
  if (m) return { key: m[1] ?? '', operator: 'exists', values: [] };
  throw badRequest(`unable to parse requirement: ${JSON.stringify(text)}`);
}

export const parseSelector = (text: string | undefined) => splitTopLevel(text ?? '').map(parseRequirement);

export function matchesRequirements(
  labels: Record<string, string> | undefined,
  requirements: Requirement[],
): boolean {
  return requirements.every(({ key, operator, values }) => {
    const value = labels?.[key];
    if (operator === 'in') return value !== undefined && values.includes(value);
    if (operator === 'notin') return value === undefined || !values.includes(value);
    if (operator === 'exists') return value !== undefined;
    return value === undefined;
  });
}

/** The string form of a LabelSelector, as Scale.status.selector and kubectl print it. */
export function selectorString(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    if (operator === 'In') parts.push(`${key} in (${values.join(',')})`);
    if (operator === 'NotIn') parts.push(`${key} notin (${values.join(',')})`);
    if (operator === 'Exists') parts.push(key);
    if (operator === 'DoesNotExist') parts.push(`!${key}`);
  }
  return parts.join(',');
}

/** The field selectors served (https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/). */
const FIELD_SELECTORS: Record<string, (o: KubeObject) => unknown> = {
  'metadata.name': (o) => o.metadata.name,
  'metadata.namespace': (o) => o.metadata.namespace ?? '',
  'status.phase': (o) => (isObject(o.status) ? o.status.phase : undefined),
};

/** The terms of a field selector: `field=value`, `field==value` or `field!=value`; `field` is undefined for a term that is none of these. */
function fieldTerms(text: string | undefined) {
  return splitTopLevel(text ?? '').map((term) => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    return { term, field: m?.[1], equal: m?.[2] !== '!=', value: m?.[3] ?? '' };
  });
}

export function fieldMatcher(text: string | undefined): (o: KubeObject) => boolean {
  const tests = fieldTerms(text).map(({ term, field, equal, value }) => {
    const getter = field === undefined ? undefined : FIELD_SELECTORS[field];
    if (!getter)
      throw badRequest(`"${term}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
    return (o: KubeObject) => (getter(o) === value) === equal;
  });
  return (o) => tests.every((test) => test(o));
}

/** The value a field selector requires a field to equal (`field=value` or `field==value`), if it has such a term. */
export function exactFieldValue(text: string | undefined, field: string): string | undefined {
  return fieldTerms(text).find((t) => t.field === field && t.equal)?.value;
}
