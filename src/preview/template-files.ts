import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { type Manifest, parseTemplate, type TemplateFile } from '../core/preview-template.js';

/** Where a template lives: a relative path is taken from the config file's folder, as runbooks.dir is. */
export function templatePath(path: string, configFile?: string): string {
  return configFile ? resolve(dirname(configFile), path) : resolve(path);
}

function readTemplateFiles(path: string): TemplateFile[] {
  try {
    const paths = statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((n) => /\.ya?ml$/.test(n))
          .sort()
          .map((n) => join(path, n))
      : [path];
    return paths.map((p) => ({ path: p, text: readFileSync(p, 'utf8') }));
  } catch (err) {
    throw new ConfigError(`preview.template: cannot read ${path}`, { cause: err });
  }
}

/** Reads and checks every .yaml/.yml file of a template folder (or one file), in name order. */
export function loadTemplateDirSync(path: string, configFile?: string): Manifest[] {
  return parseTemplate(readTemplateFiles(templatePath(path, configFile)));
}

/** The same, for the worker: read when a preview is opened, so an edited template applies at once. */
export async function loadTemplateDir(path: string, configFile?: string): Promise<Manifest[]> {
  return loadTemplateDirSync(path, configFile);
}
