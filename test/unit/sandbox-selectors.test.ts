import { describe, expect, it } from 'vitest';
import { KubeStatusError } from '../../src/sandbox/errors.js';
import {
  fieldMatcher,
  matchesRequirements,
  parseSelector,
  selectorString,
} from '../../src/sandbox/selectors.js';
import type { KubeObject } from '../../src/sandbox/types.js';

const matches = (selector: string, labels: Record<string, string>) =>
  matchesRequirements(labels, parseSelector(selector));

function statusError(run: () => unknown): KubeStatusError {
  try {
    run();
  } catch (err) {
    if (err instanceof KubeStatusError) return err;
    throw err;
  }
  throw new Error('expected a KubeStatusError');
}

// https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
describe('label selectors', () => {
  const api = { app: 'api', tier: 'web' };

  it('match equality-based requirements: =, == and != (which also matches a missing label)', () => {
    expect(matches('app=api', api)).toBe(true);
    expect(matches('app==api', api)).toBe(true);
    expect(matches('app=worker', api)).toBe(false);
    expect(matches('app!=worker', api)).toBe(true);
    expect(matches('track!=canary', api)).toBe(true);
  });

  it('match set-based requirements: in, notin, exists and !key', () => {
    expect(matches('tier in (web, db)', api)).toBe(true);
    expect(matches('tier in (db)', api)).toBe(false);
    expect(matches('tier notin (db)', api)).toBe(true);
    expect(matches('track notin (canary)', api)).toBe(true);
    expect(matches('app', api)).toBe(true);
    expect(matches('track', api)).toBe(false);
    expect(matches('!track', api)).toBe(true);
    expect(matches('!app', api)).toBe(false);
  });

  it('AND every comma-separated requirement, commas inside a set included', () => {
    expect(matches('app=api,tier in (web,db),!track', api)).toBe(true);
    expect(matches('app=api,tier in (web,db),track', api)).toBe(false);
    expect(parseSelector('')).toEqual([]);
    expect(matches('', {})).toBe(true);
  });

  it('refuse what they cannot parse with 400 BadRequest', () => {
    const error = statusError(() => parseSelector('app api'));
    expect(error.code).toBe(400);
    expect(error.message).toBe('unable to parse requirement: "app api"');
  });

  it('print a LabelSelector the way Scale.status.selector does, and that string selects the same pods', () => {
    const selector = {
      matchLabels: { app: 'api' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['web', 'db'] },
        { key: 'env', operator: 'NotIn', values: ['prod'] },
        { key: 'app', operator: 'Exists' },
        { key: 'track', operator: 'DoesNotExist' },
      ],
    };
    const text = selectorString(selector);
    expect(text).toBe('app=api,tier in (web,db),env notin (prod),app,!track');
    expect(matches(text, api)).toBe(true);
    expect(matches(text, { ...api, track: 'canary' })).toBe(false);
  });
});

// https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
describe('field selectors', () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'api-1', namespace: 'apps', uid: 'u', creationTimestamp: '' },
    status: { phase: 'Running' },
  } as KubeObject;

  it('select by metadata.name, metadata.namespace and status.phase, with =, == and !=', () => {
    expect(fieldMatcher('metadata.name=api-1')(pod)).toBe(true);
    expect(fieldMatcher('metadata.name==api-2')(pod)).toBe(false);
    expect(fieldMatcher('metadata.namespace!=kube-system,status.phase=Running')(pod)).toBe(true);
    expect(fieldMatcher(undefined)(pod)).toBe(true);
  });

  it('refuse an unknown field with 400 BadRequest', () => {
    expect(statusError(() => fieldMatcher('spec.nodeName=n1')).code).toBe(400);
  });
});
