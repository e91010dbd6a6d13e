import { readFileSync } from 'node:fs';
import { isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../core/errors.js';

type Path = readonly PropertyKey[];

function formatPath(path: Path): string {
  let out = '';
  for (const key of path) {
    out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  }
  return out || '(root)';
}

/**
 * Reads a YAML file and validates it with a zod schema. Every problem is reported as
 * `file:line:col key.path: what was expected`, so an operator can jump straight to it.
 */
export function loadYamlFile<S extends z.ZodType>(file: string, schema: S): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      `${file}: cannot read the file (${(cause as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause },
    );
  }
  return parseYamlText(text, file, schema);
}

export function parseYamlText<S extends z.ZodType>(text: string, file: string, schema: S): z.output<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = lineCounter.linePos(e.pos[0]);
      return `${file}:${pos.line}:${pos.col} ${e.message.split('\n')[0]}`;
    });
    throw new ConfigError(`${file} is not valid YAML:\n${lines.join('\n')}`);
  }
  const result = schema.safeParse(doc.toJS());
  if (result.success) return result.data;

  const lines = result.error.issues.map((issue) => {
    const where = locate(doc, lineCounter, issue.path);
    return `${file}${where} ${formatPath(issue.path)}: ${issue.message}`;
  });
  throw new ConfigError(`${file} is invalid:\n${lines.join('\n')}`);
}

/** The line and column of the deepest node on `path` that exists in the document. */
function locate(doc: ReturnType<typeof parseDocument>, lineCounter: LineCounter, path: Path): string {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) {
      const pos = lineCounter.linePos(node.range[0]);
      return `:${pos.line}:${pos.col}`;
    }
  }
  return '';
}
