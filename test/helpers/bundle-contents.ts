import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** What `npm run build` wrote into each output file (dist/meta.json, esbuild's metafile). */
interface Metafile {
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
}

function metafile(): Metafile {
  return JSON.parse(readFileSync('dist/meta.json', 'utf8')) as Metafile;
}

/** The package a bundled input came from ("@slack/bolt", "js-yaml"), or its path for the bot's own files. */
function sourceOf(input: string): string {
  return /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1] ?? input;
}

/**
 * Every package and source file whose code is in the given output files (file: URLs, as a process
 * resolved them), including the package's files that were bundled but not run: V8 holds a loaded
 * file's whole source, so for memory a loaded chunk counts in full.
 */
export function bundledSources(urls: Iterable<string>): Set<string> {
  const outputs = metafile().outputs;
  const byUrl = new Map(Object.keys(outputs).map((out) => [pathToFileURL(resolve(out)).href, out]));
  const found = new Set<string>();
  for (const url of urls) {
    const out = byUrl.get(url);
    if (!out) continue;
    for (const [input, { bytesInOutput }] of Object.entries(outputs[out]?.inputs ?? {}))
      if (bytesInOutput > 0) found.add(sourceOf(input));
  }
  return found;
}

/** Every bundled input of one package, by path inside node_modules, in the given output files. */
export function bundledFilesOf(pkg: string, urls: Iterable<string>): string[] {
  const outputs = metafile().outputs;
  const byUrl = new Map(Object.keys(outputs).map((out) => [pathToFileURL(resolve(out)).href, out]));
  const files: string[] = [];
  for (const url of urls) {
    for (const [input, { bytesInOutput }] of Object.entries(outputs[byUrl.get(url) ?? '']?.inputs ?? {}))
      if (bytesInOutput > 0 && input.startsWith(`node_modules/${pkg}/`)) files.push(input);
  }
  return files.sort();
}
