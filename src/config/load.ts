import { type OpsbotConfig, withKnownActions } from './schema.js';
import { loadYamlFile } from './yaml-file.js';

/** Reads opsbot.yml; grants may name only the actions the registered commands check. */
export function loadConfig(file: string, knownActions: readonly string[]): OpsbotConfig {
  return loadYamlFile(file, withKnownActions(knownActions));
}
