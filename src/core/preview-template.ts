import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { ConfigError, UserInputError } from './errors.js';
import { Dns1123Label } from './names.js';
import { ImageTag, PreviewName } from './preview.js';

/** The variables a preview template may use; any other `{{…}}` is refused. */
export const TEMPLATE_VARIABLES = ['name', 'namespace', 'image', 'tag', 'host', 'owner'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** DNS-1123 subdomain: what an Ingress host accepts. */
const Hostname = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'is not a valid host name')
  .refine((h) => h.split('.').every((part) => part.length <= 63), {
    message: 'has a label over 63 characters',
  });

const ImageRef = z
  .string()
  .max(255)
  .regex(
    /^[a-z0-9]+([._/:-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/,
    'is not a valid image reference',
  );

/** Every value is checked before it is substituted: none can carry quotes, newlines, braces or paths. */
export const TemplateValues = z.strictObject({
  name: PreviewName,
  namespace: Dns1123Label,
  /** Absent when preview.image is not configured; a template using {{image}} is then refused. */
  image: ImageRef.optional(),
  tag: ImageTag,
  host: Hostname,
  owner: z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'is not a Slack user id'),
});
export type TemplateValues = z.infer<typeof TemplateValues>;

/** Kinds that are not namespaced: a template must never reach outside its namespace. */
const CLUSTER_SCOPED_KINDS = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
  'RuntimeClass',
  'CSIDriver',
  'CSINode',
  'VolumeAttachment',
  'APIService',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'CertificateSigningRequest',
  'FlowSchema',
  'PriorityLevelConfiguration',
  'ClusterIssuer',
]);

export interface TemplateFile {
  path: string;
  text: string;
}

/** One manifest of a template, as parsed: values may still hold `{{…}}`. */
export type Manifest = { apiVersion: string; kind: string; metadata: Record<string, unknown> } & Record<
  string,
  unknown
>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function placeholdersIn(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '');
}

/** Checks the whole tree: keys may hold no placeholder, values only known ones. */
function checkPlaceholders(value: unknown, where: string): void {
  if (typeof value === 'string') {
    for (const name of placeholdersIn(value)) {
      if (!(TEMPLATE_VARIABLES as readonly string[]).includes(name)) {
        throw new ConfigError(
          `${where}: unknown template variable {{${name}}}; known: ${TEMPLATE_VARIABLES.map((v) => `{{${v}}}`).join(', ')}`,
        );
      }
    }
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      checkPlaceholders(item, `${where}[${i}]`);
    });
    return;
  }
  if (isRecord(value)) {
    for (const [key, child] of Object.entries(value)) {
      if (key.includes('{{'))
        throw new ConfigError(`${where}: a key may not hold a template variable ("${key}")`);
      checkPlaceholders(child, `${where}.${key}`);
    }
  }
}

/**
 * Parses the template's YAML files into manifests and checks them once: every document is a
 * namespaced object with a name, and only known variables appear, and only inside values.
 */
export function parseTemplate(files: readonly TemplateFile[]): Manifest[] {
  const manifests: Manifest[] = [];
  for (const file of files) {
    const docs = parseAllDocuments(file.text);
    if (!Array.isArray(docs)) throw new ConfigError(`${file.path}: not a YAML stream`);
    docs.forEach((doc, i) => {
      const where = `${file.path}#${i + 1}`;
      if (doc.errors.length > 0)
        throw new ConfigError(`${where}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
      const value: unknown = doc.toJS({ maxAliasCount: 50 });
      if (value === null || value === undefined) return;
      if (!isRecord(value)) throw new ConfigError(`${where}: a manifest must be a mapping`);
      const { apiVersion, kind, metadata } = value;
      if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !isRecord(metadata)) {
        throw new ConfigError(`${where}: a manifest needs apiVersion, kind and metadata`);
      }
      if (typeof metadata.name !== 'string' || metadata.name === '')
        throw new ConfigError(`${where}: metadata.name is required`);
      if (apiVersion.includes('{{') || kind.includes('{{')) {
        throw new ConfigError(`${where}: apiVersion and kind may not hold template variables`);
      }
      if (CLUSTER_SCOPED_KINDS.has(kind)) {
        throw new ConfigError(
          `${where}: ${kind} is cluster-scoped; a preview template may only hold namespaced objects`,
        );
      }
      if (metadata.namespace !== undefined && metadata.namespace !== '{{namespace}}') {
        throw new ConfigError(`${where}: metadata.namespace must be omitted or "{{namespace}}"`);
      }
      checkPlaceholders(value, where);
      manifests.push(value as Manifest);
    });
  }
  if (manifests.length === 0) throw new ConfigError('the preview template holds no manifests');
  return manifests;
}

/** Validates the values, naming the one that is wrong. */
export function checkValues(values: TemplateValues): TemplateValues {
  const parsed = TemplateValues.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? 'value');
    throw new UserInputError(`The preview's ${key} ${issue?.message ?? 'is invalid'}.`);
  }
  return parsed.data;
}

/** Substitutes inside one string value; the values were validated, so nothing can escape the string. */
export function substitute(text: string, values: TemplateValues): string {
  return text.replace(PLACEHOLDER, (_match, name: string) => {
    const value = values[name as TemplateVariable];
    if (value === undefined) {
      throw new ConfigError(
        name === 'image'
          ? 'the preview template uses {{image}}, but preview.image is not set in opsbot.yml'
          : `unknown template variable {{${name}}}`,
      );
    }
    return value;
  });
}

function renderValue(value: unknown, values: TemplateValues): unknown {
  if (typeof value === 'string') return substitute(value, values);
  if (Array.isArray(value)) return value.map((v) => renderValue(v, values));
  if (isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderValue(v, values)]));
  }
  return value;
}

/**
 * Renders parsed manifests for one preview. Substitution happens inside parsed values, never in
 * YAML text, so a value cannot add keys or documents; every object is pinned to the namespace.
 */
export function renderTemplate(manifests: readonly Manifest[], input: TemplateValues): Manifest[] {
  const values = checkValues(input);
  return manifests.map((manifest) => {
    const rendered = renderValue(manifest, values) as Manifest;
    const metadata = rendered.metadata;
    if (metadata.namespace !== undefined && metadata.namespace !== values.namespace) {
      throw new ConfigError(
        `${rendered.kind} ${String(metadata.name)} would be written outside ${values.namespace}`,
      );
    }
    if (!Hostname.safeParse(metadata.name).success) {
      throw new ConfigError(`${rendered.kind} name "${String(metadata.name)}" is not a valid object name`);
    }
    return { ...rendered, metadata: { ...metadata, namespace: values.namespace } };
  });
}

/** The environment's host, from the configured pattern such as "{{name}}.preview.example.com". */
export function renderHost(pattern: string, values: Pick<TemplateValues, 'name' | 'owner'>): string {
  const host = pattern.replace(PLACEHOLDER, (_m, name: string) => {
    if (name === 'name') return values.name;
    if (name === 'owner') return values.owner.toLowerCase();
    throw new ConfigError(`preview.host: only {{name}} and {{owner}} may be used, not {{${name}}}`);
  });
  const parsed = Hostname.safeParse(host);
  if (!parsed.success) throw new UserInputError(`The preview's host "${host}" is not a valid host name.`);
  return parsed.data;
}
