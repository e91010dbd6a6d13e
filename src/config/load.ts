import { OpsbotConfig } from './schema.js';
import { loadYamlFile } from './yaml-file.js';

export function loadConfig(file: string): OpsbotConfig {
  return loadYamlFile(file, OpsbotConfig);
}
