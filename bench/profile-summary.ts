/**
 * Where a process spent its CPU: reads a V8 .cpuprofile (from BENCH_PROFILE) and prints self time
 * by package or project file, the hottest functions, and the longest stretches the process was
 * busy without a break (what a pause in its answers is made of). Usage: tsx bench/profile-summary.ts <file>
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

/** Idle gaps shorter than this do not end a busy stretch: the event loop had no real chance to answer. */
const STRETCH_GAP_US = 1_000;

interface Stretch {
  startUs: number;
  us: number;
  places: Map<string, number>;
}

/** node_modules/<pkg> (scoped too), a project path under dist/, or the runtime's own category. */
function placeOf(url: string, functionName: string): string {
  // V8's own nodes: (garbage collector), (program) (native code and time off the CPU), (root).
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
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
const stretches: Stretch[] = [];
let current: Stretch | undefined;
let idleRun = 0;
profile.samples.forEach((id, i) => {
  const node = byId.get(id);
  const us = profile.timeDeltas[i] ?? 0;
  if (!node) return;
  total += us;
  const { functionName, url, lineNumber } = node.callFrame;
  if (functionName === '(idle)') {
    idleRun += us;
    if (current && idleRun >= STRETCH_GAP_US) current = undefined;
    return;
  }
  idleRun = 0;
  const place = placeOf(url, functionName);
  if (!current) {
    current = { startUs: total, us: 0, places: new Map() };
    stretches.push(current);
  }
  current.us += us;
  current.places.set(place, (current.places.get(place) ?? 0) + us);
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

const longest = stretches.sort((a, b) => b.us - a.us).slice(0, 5);
console.log('\nlongest busy stretches:');
for (const st of longest) {
  const where = [...st.places]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([place, us]) => `${place} ${(us / 1000).toFixed(0)} ms`)
    .join(', ');
  console.log(`${(st.us / 1000).toFixed(0).padStart(7)} ms at ${(st.startUs / 1e6).toFixed(2)} s: ${where}`);
}
