import { describe, expect, it } from 'vitest';
import { OpsbotConfig } from '../../src/config/schema.js';
import { PermissionError } from '../../src/core/errors.js';
import { identityOf } from '../../src/core/identity.js';
import { resolveTarget } from '../../src/engine/run-command.js';

const base = {
  audit: { repo: 'acme/ops-audit' },
  environments: {
    staging: { namespace: 'apps', impersonate: { groups: ['opsbot:{role}', 'opsbot'] } },
    prod: { namespace: 'apps' },
  },
};

describe('impersonation identity', () => {
  it('fills {email} and makes one group per role from opsbot:{role}', () => {
    const template = { user: '{email}', groups: ['opsbot:{role}', 'slack:{slackId}'] };
    expect(
      identityOf(template, { slackId: 'U1', email: 'alice@corp.example', roles: ['oncall', 'developer'] }),
    ).toEqual({ user: 'alice@corp.example', groups: ['opsbot:developer', 'opsbot:oncall', 'slack:U1'] });
    expect(identityOf(template, { slackId: 'U1', email: 'a@x', roles: [] }).groups).toEqual(['slack:U1']);
  });

  it('refuses to act as someone whose email is unknown, rather than as an empty user', () => {
    expect(() =>
      identityOf({ user: '{email}', groups: [] }, { slackId: 'U1', email: undefined, roles: [] }),
    ).toThrow(PermissionError);
  });

  it('is configured per environment; user defaults to {email}, and only known placeholders are accepted', () => {
    const config = OpsbotConfig.parse({ ...base, users: { U012ABCDEF: 'alice@corp.example' } });
    expect(config.environments.staging?.impersonate).toEqual({
      user: '{email}',
      groups: ['opsbot:{role}', 'opsbot'],
    });
    expect(config.users).toEqual({ U012ABCDEF: 'alice@corp.example' });
    const requester = { slackId: 'U012ABCDEF', email: 'alice@corp.example', roles: ['oncall'] };
    expect(resolveTarget(config, 'staging', requester).identity).toEqual({
      user: 'alice@corp.example',
      groups: ['opsbot', 'opsbot:oncall'],
    });
    // Without impersonate, as before: opsbot's own identity.
    expect(resolveTarget(config, 'prod', requester).identity).toBeUndefined();

    const typo = OpsbotConfig.safeParse({
      ...base,
      environments: { staging: { namespace: 'apps', impersonate: { user: '{mail}' } } },
    });
    expect(typo.success).toBe(false);
    const badUser = OpsbotConfig.safeParse({ ...base, users: { alice: 'alice@corp.example' } });
    expect(badUser.success).toBe(false);
  });
});
