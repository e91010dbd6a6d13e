import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { OpsbotConfig } from '../config/schema.js';
import { parseYamlText } from '../config/yaml-file.js';
import { ConfigError, isOpsError } from '../core/errors.js';
import { crossCheckRunbook, type Runbook, runbookSchema } from '../core/runbook.js';
import type { StepKind } from './steps/index.js';

/** Where the runbooks of a config live: `runbooks.dir`, relative to the config file's folder. */
export function runbooksDir(config: Pick<OpsbotConfig, 'runbooks'>, configFile: string | undefined): string {
  const dir = config.runbooks.dir;
  if (isAbsolute(dir)) return dir;
  return configFile ? resolve(dirname(configFile), dir) : resolve(dir);
}

/**
 * Reads and validates every `*.yml` / `*.yaml` runbook in a folder, and checks each against the
 * config. All problems of all files are reported together, each as `file:line:col key.path: message`.
 */
export function loadRunbooks(
  dir: string,
  config: Pick<OpsbotConfig, 'environments'>,
  kinds: readonly StepKind[],
): Runbook[] {
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  const runbooks: Runbook[] = [];
  const seenNames = new Set<string>();
  const problems: string[] = [];
  const environments = Object.keys(config.environments);
  const format = runbookSchema(kinds);
  const checkStep = (step: Record<string, unknown>, runbook: Partial<Runbook>, path: (string | number)[]) =>
    kinds.find((k) => k.kind === step.kind)?.checkStep?.(step, runbook, path) ?? [];
  for (const name of files) {
    const file = join(dir, name);
    const schema = format.superRefine(
      (runbook, ctx) => {
        for (const issue of crossCheckRunbook(runbook, { environments, seenNames, checkStep })) {
          ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
        }
        // Run even when the schema found problems, so one pass reports everything wrong with a file.
      },
      { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
    );
    try {
      const runbook = parseYamlText(readFileSync(file, 'utf8'), file, schema);
      seenNames.add(runbook.name);
      runbooks.push(runbook);
    } catch (err) {
      if (!isOpsError(err)) throw err;
      problems.push(err.message);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
  return runbooks;
}
