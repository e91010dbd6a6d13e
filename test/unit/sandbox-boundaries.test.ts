import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Every .ts file under a folder, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(dir, file));
}

/** The specifiers a module imports at load time; `import type` is erased by the compiler and left out. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?\sfrom\s+'([^']+)'/gms)].map(
    (m) => m[1] ?? '',
  );
}

describe('the sandbox cluster', () => {
  it('is a server on its own: it imports only its own modules, node built-ins and yaml', () => {
    for (const file of sources('src/sandbox')) {
      for (const specifier of staticImports(file)) {
        expect(
          /^\.\/[a-z-]+\.js$/.test(specifier) || specifier.startsWith('node:') || specifier === 'yaml',
          `${file} imports ${specifier}`,
        ).toBe(true);
      }
    }
  });

  it('is loaded by nothing in the bot at start-up: only types are imported statically', () => {
    const bot = [...sources('src'), ...sources('commands')].filter((f) => !f.startsWith('src/sandbox/'));
    const offenders = bot.flatMap((file) =>
      staticImports(file)
        .filter((specifier) => /(^|\/)sandbox\//.test(specifier))
        .map((specifier) => `${file} → ${specifier}`),
    );
    expect(offenders).toEqual([]);
  });
});
