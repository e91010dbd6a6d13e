import { describe, expect, it } from 'vitest';
import { KubeStatusError } from '../../src/sandbox/errors.js';
import {
  applyJsonPatch,
  applyMergePatch,
  applyPatchDocument,
  JSON_PATCH,
  MERGE_PATCH,
  STRATEGIC_PATCH,
  strategicMerge,
} from '../../src/sandbox/patch.js';

/** The Status the sandbox would answer with, for a patch that must fail. */
function failure(apply: () => unknown): { code: number; reason: string; message: string } {
  try {
    apply();
  } catch (err) {
    if (err instanceof KubeStatusError) return { code: err.code, reason: err.reason, message: err.message };
    throw err;
  }
  throw new Error('expected the patch to fail');
}

describe('RFC 6902 JSON patch (the examples of Appendix A)', () => {
  it.each([
    [
      'A.1 adds an object member',
      { foo: 'bar' },
      [{ op: 'add', path: '/baz', value: 'qux' }],
      { baz: 'qux', foo: 'bar' },
    ],
    [
      'A.2 adds an array element',
      { foo: ['bar', 'baz'] },
      [{ op: 'add', path: '/foo/1', value: 'qux' }],
      { foo: ['bar', 'qux', 'baz'] },
    ],
    [
      'A.3 removes an object member',
      { baz: 'qux', foo: 'bar' },
      [{ op: 'remove', path: '/baz' }],
      { foo: 'bar' },
    ],
    [
      'A.4 removes an array element',
      { foo: ['bar', 'qux', 'baz'] },
      [{ op: 'remove', path: '/foo/1' }],
      { foo: ['bar', 'baz'] },
    ],
    [
      'A.5 replaces a value',
      { baz: 'qux', foo: 'bar' },
      [{ op: 'replace', path: '/baz', value: 'boo' }],
      { baz: 'boo', foo: 'bar' },
    ],
    [
      'A.6 moves a value',
      { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
      [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
      { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
    ],
    [
      'A.7 moves an array element',
      { foo: ['all', 'grass', 'cows', 'eat'] },
      [{ op: 'move', from: '/foo/1', path: '/foo/3' }],
      { foo: ['all', 'cows', 'eat', 'grass'] },
    ],
    [
      'A.8 passes a test',
      { baz: 'qux', foo: ['a', 2, 'c'] },
      [
        { op: 'test', path: '/baz', value: 'qux' },
        { op: 'test', path: '/foo/1', value: 2 },
      ],
      { baz: 'qux', foo: ['a', 2, 'c'] },
    ],
    [
      'A.10 adds a nested member object',
      { foo: 'bar' },
      [{ op: 'add', path: '/child', value: { grandchild: {} } }],
      { foo: 'bar', child: { grandchild: {} } },
    ],
    [
      'A.11 ignores unrecognized members of an operation',
      { foo: 'bar' },
      [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }],
      { foo: 'bar', baz: 'qux' },
    ],
    [
      'A.14 unescapes ~01 to ~1',
      { '/': 9, '~1': 10 },
      [{ op: 'test', path: '/~01', value: 10 }],
      { '/': 9, '~1': 10 },
    ],
    [
      'A.16 appends an array with -',
      { foo: ['bar'] },
      [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }],
      { foo: ['bar', ['abc', 'def']] },
    ],
    [
      'copies a value',
      { a: { b: 1 } },
      [{ op: 'copy', from: '/a', path: '/c' }],
      { a: { b: 1 }, c: { b: 1 } },
    ],
  ])('%s', (_name, doc, patch, expected) => {
    const before = structuredClone(doc);
    expect(applyJsonPatch(doc, patch)).toEqual(expected);
    // The document the store holds is never changed in place.
    expect(doc).toEqual(before);
  });

  it.each([
    [
      'A.9 a failed test',
      { baz: 'qux' },
      [{ op: 'test', path: '/baz', value: 'bar' }],
      /^testing value \/baz failed$/,
    ],
    [
      'A.12 adding to a missing parent',
      { foo: 'bar' },
      [{ op: 'add', path: '/baz/bat', value: 'qux' }],
      /^doc is missing path: "\/baz/,
    ],
    [
      'A.15 comparing a string with a number',
      { '/': 9, '~1': 10 },
      [{ op: 'test', path: '/~01', value: '10' }],
      /^testing value \/~01 failed$/,
    ],
    ['removing a missing member', { a: 1 }, [{ op: 'remove', path: '/b' }], /^doc is missing path: "\/b"$/],
    [
      'an index past the end',
      { a: [1] },
      [{ op: 'replace', path: '/a/5', value: 2 }],
      /^doc is missing path: "\/a\/5"$/,
    ],
  ])('refuses %s with 422 Invalid, as the API server does', (_name, doc, patch, cause) => {
    const error = (() => {
      try {
        applyJsonPatch(doc, patch);
      } catch (err) {
        return err as KubeStatusError;
      }
      throw new Error('expected the patch to fail');
    })();
    expect(error).toBeInstanceOf(KubeStatusError);
    expect(error.code).toBe(422);
    expect(error.reason).toBe('Invalid');
    expect(error.details).toEqual({ causes: [{ message: expect.stringMatching(cause) }] });
  });

  it('answers 400 for a document that is not a patch', () => {
    expect(failure(() => applyJsonPatch({}, { op: 'add' }))).toMatchObject({
      code: 400,
      message: 'json: cannot unmarshal object into Go value of type jsonpatch.Patch',
    });
    expect(failure(() => applyJsonPatch({}, [{ op: 'frobnicate', path: '/a' }]))).toMatchObject({
      code: 400,
      message: 'invalid JSON patch: unexpected operation "frobnicate"',
    });
    expect(failure(() => applyJsonPatch({}, [{ op: 'add', value: 1 }])).code).toBe(400);
  });
});

describe('RFC 7386 merge patch (the examples of Appendix A)', () => {
  it.each([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])('%j merged with %j is %j', (target, patch, expected) => {
    expect(applyMergePatch(target, patch)).toEqual(expected);
  });
});

describe('strategic merge patch', () => {
  const pod = {
    containers: [
      { name: 'api', image: 'api:1', env: [{ name: 'A', value: '1' }], ports: [{ containerPort: 80 }] },
      { name: 'sidecar', image: 'proxy:1', args: ['--a', '--b'] },
    ],
  };

  it('merges list elements by their patch merge key instead of replacing the list', () => {
    const patched = strategicMerge(pod, {
      containers: [{ name: 'api', image: 'api:2', env: [{ name: 'B', value: '2' }] }],
    });
    expect(patched).toEqual({
      containers: [
        {
          name: 'api',
          image: 'api:2',
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: '2' },
          ],
          ports: [{ containerPort: 80 }],
        },
        { name: 'sidecar', image: 'proxy:1', args: ['--a', '--b'] },
      ],
    });
  });

  it('keys ports by containerPort, replaces lists without a merge key, and deletes on null', () => {
    const patched = strategicMerge(pod, {
      containers: [
        { name: 'api', ports: [{ containerPort: 80, name: 'http' }, { containerPort: 9090 }] },
        { name: 'sidecar', args: ['--c'], image: null },
      ],
    });
    expect(patched).toMatchObject({
      containers: [
        { name: 'api', ports: [{ containerPort: 80, name: 'http' }, { containerPort: 9090 }] },
        { name: 'sidecar', args: ['--c'] },
      ],
    });
    expect((patched as typeof pod).containers[1]).not.toHaveProperty('image');
  });

  it('honours the $patch directives delete and replace, and never stores a directive', () => {
    const deleted = strategicMerge(pod, { containers: [{ name: 'sidecar', $patch: 'delete' }] });
    expect((deleted as typeof pod).containers.map((c) => c.name)).toEqual(['api']);
    const replaced = strategicMerge(pod, {
      containers: [{ name: 'only', image: 'only:1' }, { $patch: 'replace' }],
      '$setElementOrder/containers': [{ name: 'only' }],
    });
    expect(replaced).toEqual({ containers: [{ name: 'only', image: 'only:1' }] });
  });
});

describe('applyPatchDocument', () => {
  it('picks the semantics from the media type', () => {
    const doc = {
      spec: {
        containers: [
          { name: 'a', image: 'a:1' },
          { name: 'b', image: 'b:1' },
        ],
      },
    };
    const patch = { spec: { containers: [{ name: 'b', image: 'b:2' }] } };
    expect(applyPatchDocument(MERGE_PATCH, doc, patch)).toEqual(patch);
    expect(applyPatchDocument(STRATEGIC_PATCH, doc, patch)).toEqual({
      spec: {
        containers: [
          { name: 'a', image: 'a:1' },
          { name: 'b', image: 'b:2' },
        ],
      },
    });
    expect(
      applyPatchDocument(JSON_PATCH, doc, [
        { op: 'replace', path: '/spec/containers/0/image', value: 'a:2' },
      ]),
    ).toMatchObject({ spec: { containers: [{ image: 'a:2' }, { image: 'b:1' }] } });
  });

  it('refuses a merge or strategic patch that is not an object', () => {
    for (const type of [MERGE_PATCH, STRATEGIC_PATCH]) {
      expect(failure(() => applyPatchDocument(type, {}, ['a']))).toMatchObject({
        code: 400,
        message: 'the patch must be a JSON object',
      });
    }
  });
});
