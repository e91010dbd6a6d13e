import { appendFileSync, readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

let target;
let delay;
export function initialize(data) {
  target = data;
  delay = data.delay;
  if (delay) delay.urls = outputsHolding(delay.source);
}

/** The build's output files (file: URLs) that hold code from this source path or package (dist/meta.json). */
function outputsHolding(source) {
  const { outputs } = JSON.parse(readFileSync('dist/meta.json', 'utf8'));
  const urls = new Set();
  for (const [out, { inputs }] of Object.entries(outputs))
    for (const [input, { bytesInOutput }] of Object.entries(inputs))
      if (bytesInOutput > 0 && input.includes(source)) urls.add(pathToFileURL(resolvePath(out)).href);
  return urls;
}

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (target?.file && resolved.url.startsWith('file:'))
    appendFileSync(target.file, `${target.thread} ${resolved.url}\n`);
  if (delay?.urls.has(resolved.url)) {
    const ms = delay.ms;
    delay = undefined;
    await sleep(ms);
  }
  return resolved;
}
