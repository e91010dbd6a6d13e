import { appendFileSync } from 'node:fs';

let target;
export function initialize(data) {
  target = data;
}

export async function resolve(specifier, context, next) {
  if (target && !specifier.startsWith('.') && !specifier.startsWith('node:') && !specifier.includes(':/'))
    appendFileSync(target.file, `${target.pid} ${specifier}\n`);
  return next(specifier, context);
}
