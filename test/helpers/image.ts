import { readFileSync } from 'node:fs';

/** The Dockerfile's ENV settings that tune the runtime (Node's flags, glibc's malloc), as the image sets them. */
export function imageRuntimeEnv(): Record<string, string> {
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  const env: Record<string, string> = {};
  for (const key of ['NODE_OPTIONS', 'MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_']) {
    const found = new RegExp(`\\b${key}=(?:"([^"]*)"|([^\\s\\\\]+))`).exec(dockerfile);
    const value = found?.[1] ?? found?.[2];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** NODE_OPTIONS as the Dockerfile's ENV sets them for the image; empty when it sets none. */
export function imageNodeOptions(): string {
  return imageRuntimeEnv().NODE_OPTIONS ?? '';
}
