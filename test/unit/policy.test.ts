import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import {
  authorize,
  authorizeApproval,
  grantsOf,
  mayUseEmergency,
  type Principal,
} from '../../src/core/policy.js';
import { knownActions } from '../../src/features.js';

const config = loadConfig('test/fixtures/opsbot.yml', knownActions());
const channel = { id: 'COPS', name: 'ops' };
const oncall: Principal = { userId: 'UONCALL1', groups: new Set(), channel };
const oncallByGroup: Principal = { userId: 'UX', groups: new Set(['sre-oncall']), channel };
const developer: Principal = { userId: 'UY', groups: new Set(['engineering']), channel };
const stranger: Principal = { userId: 'UZ', groups: new Set(['marketing']), channel };

describe('authorize', () => {
  it('allows what a role grants, by user id or by user group', () => {
    expect(authorize(config, oncall, 'rollback', 'prod')).toEqual({
      allowed: true,
      grantedBy: ['roles.oncall.can[0]'],
    });
    expect(authorize(config, oncallByGroup, 'rollback', 'prod').allowed).toBe(true);
  });

  it('denies by default and names the rule that would have allowed it', () => {
    const d = authorize(config, developer, 'rollback', 'staging');
    expect(d).toEqual({
      allowed: false,
      reason: 'rollback in staging needs role oncall, which you do not hold',
      wouldAllow: ['roles.oncall.can[0]'],
    });
    expect(authorize(config, stranger, 'status', 'staging').allowed).toBe(false);
  });

  it('denies an unknown environment and an action nobody holds', () => {
    expect(authorize(config, oncall, 'rollback', 'qa')).toMatchObject({
      allowed: false,
      reason: 'there is no environment "qa"',
    });
    expect(authorize(config, oncall, 'env.open', 'prod')).toMatchObject({ allowed: false, wouldAllow: [] });
  });

  it('checks every role × action × environment cell against the fixture', () => {
    const expected: Record<string, Record<string, string[]>> = {
      oncall: {
        staging: ['rollback', 'restart', 'scale', 'status', 'history'],
        prod: ['rollback', 'restart', 'scale', 'status', 'history'],
      },
      developer: { staging: ['status', 'history', 'restart', 'env.open', 'env.close'], prod: [] },
      stranger: { staging: [], prod: [] },
    };
    const people: Record<string, Principal> = { oncall, developer, stranger };
    for (const [who, byEnv] of Object.entries(expected)) {
      for (const [env, allowed] of Object.entries(byEnv)) {
        for (const action of knownActions()) {
          const decision = authorize(config, people[who]!, action, env);
          expect(decision.allowed, `${who} ${action} ${env}`).toBe(allowed.includes(action));
        }
      }
    }
  });

  it('applies an environment channel restriction', () => {
    const restricted = {
      ...config,
      environments: {
        ...config.environments,
        prod: { ...config.environments.prod!, channels: ['#ops', 'incident'] },
      },
    };
    expect(authorize(restricted, oncall, 'rollback', 'prod').allowed).toBe(true);
    const elsewhere = { ...oncall, channel: { id: 'CRANDOM', name: 'random' } };
    expect(authorize(restricted, elsewhere, 'rollback', 'prod')).toMatchObject({
      allowed: false,
      reason: 'prod actions may only be taken from #ops, incident',
    });
    const incident = (environment?: string) => ({
      ...oncall,
      channel: { id: 'CINC', name: 'inc-1', isIncident: true, incidentEnvironment: environment },
    });
    expect(authorize(restricted, incident('prod'), 'rollback', 'prod').allowed).toBe(true);
    // An incident channel counts only for its own incident's environment.
    expect(authorize(restricted, incident('staging'), 'rollback', 'prod').allowed).toBe(false);
    expect(authorize(restricted, incident(undefined), 'rollback', 'prod').allowed).toBe(false);
  });
});

describe('approval and break-glass', () => {
  it('lets a second oncall approve, never the requester, never a developer', () => {
    expect(authorizeApproval(config, oncallByGroup, 'prod', 'UONCALL1').allowed).toBe(true);
    expect(authorizeApproval(config, oncall, 'prod', 'UONCALL1')).toMatchObject({
      allowed: false,
      reason: 'you cannot approve your own request',
    });
    expect(authorizeApproval(config, developer, 'prod', 'UONCALL1').allowed).toBe(false);
  });

  it('grants emergency only where configured', () => {
    expect(mayUseEmergency(config, oncall, 'prod')).toBe(true);
    expect(mayUseEmergency(config, oncall, 'staging')).toBe(false);
    expect(mayUseEmergency(config, developer, 'prod')).toBe(false);
  });

  it('lists what a user may run', () => {
    expect(grantsOf(config, developer).get('restart')).toEqual(['staging']);
    expect(grantsOf(config, stranger).size).toBe(0);
  });
});
