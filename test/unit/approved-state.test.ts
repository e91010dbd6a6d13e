import { describe, expect, it } from 'vitest';
import { specMoved, specVersionOf } from '../../src/core/deployment.js';

const plannedAt = { uid: '6f1c2d9e-api', generation: 7, resourceVersion: '4100' };

describe('whether a deployment moved since a plan was made from it', () => {
  const planned = { specVersion: specVersionOf(plannedAt) };

  it('lets status-only changes through: a new resourceVersion at the same generation changes no plan', () => {
    expect(specMoved(planned, { ...plannedAt, resourceVersion: '4188' })).toBeUndefined();
  });

  it('sees a spec change, and a deployment deleted and created again under the same name', () => {
    expect(specMoved(planned, { ...plannedAt, generation: 8, resourceVersion: '4190' })).toBe(
      'generation 7 → 8',
    );
    // A new object starts again at generation 1; it could even reach the same number.
    expect(specMoved(planned, { ...plannedAt, uid: '0b7e44aa-api' })).toBe('deleted and created again');
  });

  it('keeps the stricter resourceVersion check for jobs saved before spec versions existed', () => {
    const legacy = { resourceVersion: '4100' };
    expect(specMoved(legacy, plannedAt)).toBeUndefined();
    expect(specMoved(legacy, { ...plannedAt, resourceVersion: '4188' })).toBe('resourceVersion 4100 → 4188');
    expect(specMoved({}, { ...plannedAt, generation: 9 })).toBeUndefined();
  });
});
