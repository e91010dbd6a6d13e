import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, UserInputError } from '../../src/core/errors.js';
import {
  parseTemplate,
  renderHost,
  renderTemplate,
  type TemplateValues,
} from '../../src/core/preview-template.js';
import { loadTemplateDir } from '../../src/preview/template-files.js';

const VALUES: TemplateValues = {
  name: 'pr-481',
  namespace: 'preview-pr-481',
  image: 'ghcr.io/acme/web:0123456789abcdef0123456789abcdef01234567',
  tag: '0123456789abcdef0123456789abcdef01234567',
  host: 'pr-481.preview.example.com',
  owner: 'UDEV1',
};

const DEPLOYMENT = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: "{{namespace}}"
  labels: { preview: "{{name}}" }
spec:
  template:
    spec:
      containers:
        - name: web
          image: "{{image}}"
          env:
            - { name: URL, value: "https://{{ host }}/?by={{owner}}" }
`;

const file = (text: string, path = 'deployment.yaml') => [{ path, text }];

describe('preview templates', () => {
  it('substitutes every variable inside values and pins the namespace', () => {
    const [dep] = renderTemplate(parseTemplate(file(DEPLOYMENT)), VALUES);
    expect(dep?.metadata).toEqual({
      name: 'web',
      namespace: 'preview-pr-481',
      labels: { preview: 'pr-481' },
    });
    expect(JSON.stringify(dep)).toContain(
      '"image":"ghcr.io/acme/web:0123456789abcdef0123456789abcdef01234567"',
    );
    expect(JSON.stringify(dep)).toContain('https://pr-481.preview.example.com/?by=UDEV1');
  });

  it('adds the namespace to objects that leave it out, and refuses any other namespace', () => {
    const [svc] = renderTemplate(
      parseTemplate(file('apiVersion: v1\nkind: Service\nmetadata: { name: web }\n')),
      VALUES,
    );
    expect(svc?.metadata.namespace).toBe('preview-pr-481');
    expect(() =>
      parseTemplate(file('apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: kube-system }\n')),
    ).toThrow(/metadata.namespace must be omitted or "\{\{namespace\}\}"/);
    expect(() =>
      parseTemplate(file('apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: "{{name}}" }\n')),
    ).toThrow(ConfigError);
  });

  it.each(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition'])(
    'refuses the cluster-scoped kind %s',
    (kind) => {
      expect(() => parseTemplate(file(`apiVersion: v1\nkind: ${kind}\nmetadata: { name: x }\n`))).toThrow(
        /cluster-scoped/,
      );
    },
  );

  it('refuses unknown variables and variables in keys', () => {
    expect(() => parseTemplate(file(`${DEPLOYMENT}\n  x: "{{secret}}"\n`))).toThrow(
      /unknown template variable \{\{secret\}\}/,
    );
    expect(() =>
      parseTemplate(
        file('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\ndata: { "{{name}}": x }\n'),
      ),
    ).toThrow(/a key may not hold a template variable/);
  });

  it('refuses variables in apiVersion or kind, so a value cannot pick the kind', () => {
    expect(() => parseTemplate(file('apiVersion: v1\nkind: "{{name}}"\nmetadata: { name: x }\n'))).toThrow(
      /may not hold template variables/,
    );
  });

  it('refuses documents that are not manifests', () => {
    expect(() => parseTemplate(file('- a\n- b\n'))).toThrow(/must be a mapping/);
    expect(() => parseTemplate(file('kind: Service\nmetadata: { name: x }\n'))).toThrow(/apiVersion/);
    expect(() => parseTemplate(file('apiVersion: v1\nkind: Service\nmetadata: {}\n'))).toThrow(/name/);
    expect(() => parseTemplate(file('a: [\n'))).toThrow(ConfigError);
    expect(() => parseTemplate(file('# nothing\n'))).toThrow(/holds no manifests/);
  });

  const hostile: [keyof TemplateValues, string][] = [
    ['name', 'x\nkind: ClusterRole'],
    ['name', 'a"b'],
    ['name', "a'b"],
    ['name', '{{namespace}}'],
    ['name', '../etc'],
    ['name', 'a'.repeat(60)],
    ['name', 'UPPER'],
    ['namespace', 'kube-system\n---\napiVersion: v1'],
    ['tag', 'v1\n  privileged: true'],
    ['tag', 'v1"; rm -rf /'],
    ['tag', '../../latest'],
    ['tag', 'x'.repeat(129)],
    ['image', 'ghcr.io/acme/web:v1\ncommand: [sh]'],
    ['image', 'ghcr.io/acme/web'],
    ['host', 'evil.com/path'],
    ['host', 'a..b'],
    ['host', 'x{{name}}.example.com'],
    ['host', `${'a'.repeat(64)}.example.com`],
    ['owner', 'UDEV1\nrole: admin'],
    ['owner', '{{host}}'],
  ];
  it.each(hostile)('refuses a hostile %s value %j before rendering anything', (key, value) => {
    expect(() => renderTemplate(parseTemplate(file(DEPLOYMENT)), { ...VALUES, [key]: value })).toThrow(
      UserInputError,
    );
  });

  it('cannot be steered by any value: YAML-looking text stays one string, never a key or document', () => {
    const template = parseTemplate(
      file('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\ndata: { tag: "{{tag}}" }\n'),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 140 }), (tag) => {
        let out: ReturnType<typeof renderTemplate>;
        try {
          out = renderTemplate(template, { ...VALUES, tag });
        } catch (err) {
          expect(err).toBeInstanceOf(UserInputError);
          return;
        }
        expect(out).toHaveLength(1);
        expect(out[0]?.data).toEqual({ tag });
        expect(Object.keys(out[0] ?? {}).sort()).toEqual(['apiVersion', 'data', 'kind', 'metadata']);
        expect(tag).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/);
      }),
    );
  });

  it('renders a value holding template syntax only once, never recursively', () => {
    const template = parseTemplate(
      file(
        stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'c' },
          data: { a: '{{name}}-{{tag}}' },
        }),
      ),
    );
    const [cm] = renderTemplate(template, { ...VALUES, tag: 'v1.2.3' });
    expect(cm?.data).toEqual({ a: 'pr-481-v1.2.3' });
  });

  it('refuses {{image}} when no image repository is configured', () => {
    const { image: _image, ...noImage } = VALUES;
    expect(() => renderTemplate(parseTemplate(file(DEPLOYMENT)), noImage)).toThrow(
      /preview.image is not set/,
    );
  });

  it('builds the host from the configured pattern and validates it', () => {
    expect(renderHost('{{name}}.preview.example.com', { name: 'pr-481', owner: 'UDEV1' })).toBe(
      'pr-481.preview.example.com',
    );
    expect(() => renderHost('{{name}}.{{tag}}.example.com', { name: 'x', owner: 'UDEV1' })).toThrow(
      ConfigError,
    );
    expect(() => renderHost('{{name}}_bad.example.com', { name: 'x', owner: 'UDEV1' })).toThrow(
      UserInputError,
    );
  });

  it('loads the example template under runbooks/preview: Deployment, Service, Ingress and ConfigMap', async () => {
    const manifests = await loadTemplateDir('runbooks/preview');
    expect(manifests.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Ingress', 'Service']);
    const rendered = renderTemplate(manifests, VALUES);
    expect(rendered.every((m) => m.metadata.namespace === 'preview-pr-481')).toBe(true);
    expect(JSON.stringify(rendered)).not.toContain('{{');
  });
});
