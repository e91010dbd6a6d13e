import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

let target;
let delay;
export function initialize(data) {
  target = data;
  delay = data.delay;
}

export async function resolve(specifier, context, next) {
  const bare = !specifier.startsWith('.') && !specifier.startsWith('node:') && !specifier.includes(':/');
  if (target?.file && bare) appendFileSync(target.file, `${target.pid} ${specifier}\n`);
  if (delay && specifier === delay.specifier) {
    const ms = delay.ms;
    delay = undefined;
    await sleep(ms);
  }
  return next(specifier, context);
}
