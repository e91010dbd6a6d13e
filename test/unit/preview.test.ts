import { describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/core/errors.js';
import {
  ANNOTATIONS,
  checkOpenLimits,
  checkTtl,
  extendedExpiry,
  type PreviewEnv,
  planReaper,
  previewAnnotations,
  previewFromNamespace,
  previewLabels,
  tagForRef,
} from '../../src/core/preview.js';

const H = 3_600_000;
const NOW = Date.parse('2026-11-23T12:00:00Z');

function env(
  name: string,
  owner: string,
  expiresAt = NOW + 8 * H,
  extra: Partial<PreviewEnv> = {},
): PreviewEnv {
  return { name, namespace: `preview-${name}`, owner, expiresAt, terminating: false, ...extra };
}

describe('preview labels', () => {
  it('round-trips owner, expiry, ref and PR through namespace labels and annotations', () => {
    const input = {
      name: 'feat-x',
      owner: { id: 'UDEV1', name: 'dana' },
      expiresAt: NOW + 8 * H,
      ref: 'feature/new-login',
      pr: 481,
      channel: 'COPS',
      url: 'https://feat-x.preview.example.com',
    };
    const labels = previewLabels(input);
    expect(labels['opsbot.dev/ref']).toBe('feature-new-login');
    expect(labels['app.kubernetes.io/managed-by']).toBe('opsbot');
    for (const value of Object.values(labels))
      expect(value).toMatch(/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/);
    const read = previewFromNamespace({
      name: 'preview-feat-x',
      labels,
      annotations: previewAnnotations(input),
      terminating: false,
    });
    expect(read).toMatchObject({
      name: 'feat-x',
      owner: 'UDEV1',
      ownerName: 'dana',
      expiresAt: NOW + 8 * H,
      ref: 'feature/new-login',
      pr: 481,
      channel: 'COPS',
      url: 'https://feat-x.preview.example.com',
    });
  });

  it('ignores namespaces opsbot did not make or whose labels were tampered with', () => {
    const labels = previewLabels({
      name: 'a',
      owner: { id: 'UDEV1' },
      expiresAt: NOW,
      channel: 'C',
      url: 'u',
    });
    const ns = { name: 'preview-a', labels, annotations: {}, terminating: false };
    expect(previewFromNamespace(ns)).toBeDefined();
    expect(previewFromNamespace({ ...ns, name: 'kube-system' })).toBeUndefined();
    expect(
      previewFromNamespace({ ...ns, labels: { ...labels, 'app.kubernetes.io/managed-by': 'helm' } }),
    ).toBeUndefined();
    expect(
      previewFromNamespace({ ...ns, labels: { ...labels, 'opsbot.dev/expires-at': 'soon' } }),
    ).toBeUndefined();
  });

  it('turns refs into image tags, refusing what no registry accepts', () => {
    expect(tagForRef('feature/login')).toBe('feature-login');
    expect(tagForRef('v1.2.3')).toBe('v1.2.3');
    expect(() => tagForRef('-x')).toThrow(UserInputError);
  });
});

describe('preview limits', () => {
  const limits = { maxPerUser: 2, maxTotal: 3 };

  it('refuses a third environment for one person, naming the ones they have', () => {
    const live = [env('a', 'UDEV1'), env('b', 'UDEV1')];
    expect(() => checkOpenLimits(live, { name: 'c', owner: 'UDEV1' }, limits)).toThrow(
      'You already have 2 preview environments open (a, b); the limit is 2 per person. Close one with /ops env close <name>.',
    );
    expect(() => checkOpenLimits(live, { name: 'c', owner: 'UOTHER' }, limits)).not.toThrow();
  });

  it('lets a person re-open (update) one they already have at the limit', () => {
    const live = [env('a', 'UDEV1'), env('b', 'UDEV1')];
    expect(() => checkOpenLimits(live, { name: 'a', owner: 'UDEV1' }, limits)).not.toThrow();
  });

  it('refuses past the total, and no longer counts environments being deleted', () => {
    const live = [env('a', 'U1AA'), env('b', 'U2BB'), env('c', 'U3CC')];
    expect(() => checkOpenLimits(live, { name: 'd', owner: 'U4DD' }, limits)).toThrow(/limit is 3 in total/);
    live[0] = env('a', 'U1AA', NOW, { terminating: true });
    expect(() => checkOpenLimits(live, { name: 'd', owner: 'U4DD' }, limits)).not.toThrow();
  });

  it('refuses a TTL over maxTtl and an extension past maxTtl from now', () => {
    expect(() => checkTtl(80 * H, { maxTtl: 72 * H })).toThrow(
      '--ttl 3d 8h is longer than the 3d a preview may live.',
    );
    expect(() => checkTtl(72 * H, { maxTtl: 72 * H })).not.toThrow();
    expect(extendedExpiry(NOW + 2 * H, NOW, 4 * H, 72 * H)).toBe(NOW + 6 * H);
    // An expired one (the reaper has not run yet) is extended from now.
    expect(extendedExpiry(NOW - H, NOW, 4 * H, 72 * H)).toBe(NOW + 4 * H);
    expect(() => extendedExpiry(NOW + 70 * H, NOW, 4 * H, 72 * H)).toThrow(/at most 3d from now/);
  });
});

describe('the reaper plan', () => {
  it('expires what is past, warns once within warnBefore, and leaves the rest', () => {
    const envs = [
      env('past', 'U1AA', NOW - 1),
      env('now', 'U1AA', NOW),
      env('soon', 'U1AA', NOW + 20 * 60_000),
      env('warned', 'U1AA', NOW + 20 * 60_000, { warnedFor: NOW + 20 * 60_000 }),
      env('warned-before-extend', 'U1AA', NOW + 25 * 60_000, { warnedFor: NOW + 5 * 60_000 }),
      env('later', 'U1AA', NOW + 31 * 60_000),
      env('going', 'U1AA', NOW - H, { terminating: true }),
    ];
    const plan = planReaper(envs, NOW, 30 * 60_000);
    expect(plan.expire.map((e) => e.name)).toEqual(['past', 'now']);
    expect(plan.warn.map((e) => e.name)).toEqual(['soon', 'warned-before-extend']);
  });

  it('reads the warned-for annotation back in seconds', () => {
    const labels = previewLabels({
      name: 'a',
      owner: { id: 'UDEV1' },
      expiresAt: NOW,
      channel: 'C',
      url: 'u',
    });
    const read = previewFromNamespace({
      name: 'preview-a',
      labels,
      annotations: { [ANNOTATIONS.warnedFor]: String(NOW / 1000) },
      terminating: false,
    });
    expect(read?.warnedFor).toBe(read?.expiresAt);
  });
});
