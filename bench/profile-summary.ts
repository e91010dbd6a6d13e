/**
 * Where a process spent its CPU: reads a V8 .cpuprofile (from BENCH_PROFILE) and prints self time
 * by package or project file, then the hottest functions. Usage: tsx bench/profile-summary.ts <file>
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** node_modules/<pkg> (scoped too), a project path under dist/, or the runtime's own category. */
function placeOf(url: string): string {
  if (!url) return '(native, GC or idle)';
  const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (mod) return mod[1] ?? url;
  if (url.startsWith('node:')) return url;
  const own = /dist\/(.+)$/.exec(url);
  return own ? (own[1] ?? url) : url;
}

const file = process.argv[2];
if (!file) throw new Error('usage: tsx bench/profile-summary.ts <file.cpuprofile>');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const byPlace = new Map<string, number>();
const byFunction = new Map<string, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const node = byId.get(id);
  const us = profile.timeDeltas[i] ?? 0;
  if (!node) return;
  total += us;
  const { functionName, url, lineNumber } = node.callFrame;
  if (functionName === '(idle)') return;
  const place = placeOf(url);
  byPlace.set(place, (byPlace.get(place) ?? 0) + us);
  const fn = `${functionName || '(anonymous)'} ${place}:${lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
});
const busy = [...byPlace.values()].reduce((a, b) => a + b, 0);
const top = (map: Map<string, number>, n: number) =>
  [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([k, us]) =>
        `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${k}`,
    )
    .join('\n');
console.log(`${file}: ${(total / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy`);
console.log(`\nby place:\n${top(byPlace, 20)}`);
console.log(`\nby function:\n${top(byFunction, 25)}`);
