import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';
import { knownActions } from '../../src/features.js';

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'opsbot-config-')), 'opsbot.yml');
  writeFileSync(file, text);
  return file;
}

describe('loadConfig', () => {
  it('accepts the committed example and applies defaults', () => {
    const config = loadConfig('opsbot.example.yml', knownActions());
    expect(config.environments.prod).toMatchObject({ protected: true, namespace: 'apps' });
    expect(config.approvals.ttl).toBe(15 * 60_000);
    expect(config.audit.branch).toBe('main');
  });

  it('names the file, line, key path and what was expected', () => {
    const file = configFile(
      [
        'environments:',
        '  prod: { namespace: Apps }',
        'roles:',
        '  oncall:',
        '    members: [U1ABC]',
        '    can:',
        '      - { actions: [rollback], environments: [prod, qa] }',
        'audit: { repo: not-a-slug }',
      ].join('\n'),
    );
    let error: unknown;
    try {
      loadConfig(file, knownActions());
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as Error).message;
    expect(text).toContain(`${file}:2:22 environments.prod.namespace: must be lowercase`);
    expect(text).toContain(`${file}:8:16 audit.repo: must be "owner/name"`);
    expect(text).toContain(
      `${file}:7:53 roles.oncall.can[0].environments[1]: unknown environment "qa"; known: prod`,
    );
  });

  it('reads incidents.postmortem and names its key when it is wrong', () => {
    const base = 'environments: { prod: { namespace: apps } }\naudit: { repo: a/b }\n';
    const ok = loadConfig(
      configFile(`${base}incidents: { repo: acme/incidents, postmortem: { repo: acme/postmortems } }\n`),
      knownActions(),
    );
    expect(ok.incidents?.postmortem).toEqual({ repo: 'acme/postmortems', dir: 'postmortems', auto: false });
    const bad = configFile(
      `${base}incidents: { repo: acme/incidents, postmortem: { repo: nope, dir: ../x, auto: yes } }\n`,
    );
    expect(() => loadConfig(bad, knownActions())).toThrow(
      /incidents\.postmortem\.repo: must be "owner\/name"/,
    );
    expect(() => loadConfig(bad, knownActions())).toThrow(
      /incidents\.postmortem\.dir: must not contain "\.\."/,
    );
    expect(() => loadConfig(bad, knownActions())).toThrow(/incidents\.postmortem\.auto/);
  });

  it('refuses unknown keys and unknown actions', () => {
    const file = configFile(
      'environments: { prod: { namespace: apps, protcted: true } }\naudit: { repo: a/b }\n',
    );
    expect(() => loadConfig(file, knownActions())).toThrow(
      /environments\.prod: Unrecognized key: "protcted"/,
    );
    const file2 = configFile(
      'environments: { prod: { namespace: apps } }\naudit: { repo: a/b }\nroles: { r: { members: [U1AB], can: [{ actions: [nuke], environments: [prod] }] } }\n',
    );
    expect(() => loadConfig(file2, knownActions())).toThrow(/roles\.r\.can\[0\]\.actions\[0\]/);
  });

  it('reports YAML syntax errors with their position, and a missing file', () => {
    expect(() => loadConfig(configFile('environments: [\n'), knownActions())).toThrow(/is not valid YAML/);
    expect(() => loadConfig('/nonexistent/opsbot.yml', knownActions())).toThrow(
      '/nonexistent/opsbot.yml: cannot read the file (ENOENT)',
    );
  });
});

describe('readEnv', () => {
  it('applies the documented defaults', () => {
    const env = readEnv({});
    expect(env).toMatchObject({
      SLACK_API_URL: 'https://slack.com/api/',
      GITHUB_API_URL: 'https://api.github.com',
      REDIS_URL: 'redis://127.0.0.1:6379',
      OPSBOT_CONFIG: './opsbot.yml',
      PORT: 3000,
    });
  });

  it('names the variable that is wrong, without echoing secrets', () => {
    const missingSecret = () => readEnv({ SLACK_BOT_TOKEN: 'xoxb-secret-value' });
    expect(missingSecret).toThrow(/SLACK_SIGNING_SECRET: is required in HTTP mode/);
    expect(missingSecret).not.toThrow(/xoxb-secret-value/);
    expect(() => readEnv({ PORT: 'eighty' })).toThrow(/environment variable PORT/);
    expect(() => readEnv({ SLACK_APP_TOKEN: 'xoxb-wrong-kind' })).toThrow(
      /SLACK_APP_TOKEN: must be an app-level token/,
    );
    expect(() => readEnv({ GITHUB_APP_ID: '1' })).toThrow(/a GitHub App needs all of/);
  });
});
