import { readFileSync } from 'node:fs';

/** NODE_OPTIONS as the Dockerfile's ENV sets them for the image; empty when it sets none. */
export function imageNodeOptions(): string {
  return /NODE_OPTIONS="([^"]*)"/.exec(readFileSync('Dockerfile', 'utf8'))?.[1] ?? '';
}
