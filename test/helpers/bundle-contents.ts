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

/** Every input the build put into the given output files (file: URLs, as a process resolved them). */
function bundledInputs(urls: Iterable<string>): string[] {
  const outputs = metafile().outputs;
  const byUrl = new Map(Object.keys(outputs).map((out) => [pathToFileURL(resolve(out)).href, out]));
  const inputs: string[] = [];
  for (const url of urls)
    for (const [input, { bytesInOutput }] of Object.entries(outputs[byUrl.get(url) ?? '']?.inputs ?? {}))
      if (bytesInOutput > 0) inputs.push(input);
  return inputs;
}

/**
 * Every package and source file whose code is in the given output files, including a package's
 * files that were bundled but not run: V8 holds a loaded file's whole source, so for memory a loaded
 * chunk counts in full.
 */
export function bundledSources(urls: Iterable<string>): Set<string> {
  return new Set(bundledInputs(urls).map(sourceOf));
}

/** Every bundled input of one package, by path inside node_modules, in the given output files. */
export function bundledFilesOf(pkg: string, urls: Iterable<string>): string[] {
  return bundledInputs(urls)
    .filter((input) => input.startsWith(`node_modules/${pkg}/`))
    .sort();
}
