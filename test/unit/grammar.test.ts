import { describe, expect, it } from 'vitest';
import { rollback } from '../../commands/rollback.js';
import { scale } from '../../commands/scale.js';
import { UserInputError } from '../../src/core/errors.js';
import { type ArgsParser, parseInput, tokenize, withDefaults } from '../../src/core/grammar.js';

describe('tokenize', () => {
  it('keeps quoted text together, with straight and Slack curly quotes', () => {
    expect(tokenize('rollback api --reason "bad deploy"')).toEqual([
      'rollback',
      'api',
      '--reason',
      'bad deploy',
    ]);
    expect(tokenize('rollback api --reason “bad deploy”')).toEqual([
      'rollback',
      'api',
      '--reason',
      'bad deploy',
    ]);
    expect(tokenize("x 'a b'  c")).toEqual(['x', 'a b', 'c']);
    expect(tokenize('x ""')).toEqual(['x', '']);
  });

  it('refuses an unclosed quote', () => {
    expect(() => tokenize('rollback --reason "oops')).toThrow(UserInputError);
  });
});

describe('parseInput', () => {
  it('separates words from flags in both --k v and --k=v forms', () => {
    expect(parseInput('rollback api --env prod --to=3')).toEqual({
      words: ['rollback', 'api'],
      flags: { env: 'prod', to: '3' },
    });
  });

  it('accepts the em dash some Slack clients substitute for --', () => {
    expect(parseInput('rollback api —env prod').flags).toEqual({ env: 'prod' });
  });

  it('refuses a repeated flag', () => {
    expect(() => parseInput('rollback api --env a --env b')).toThrow(/more than once/);
  });
});

describe('rollback arguments', () => {
  const parse = (text: string) => {
    const input = parseInput(text);
    return rollback.parse({ words: input.words.slice(1), flags: input.flags });
  };

  it('parses a full request', () => {
    expect(parse('rollback api --env prod --to 4 --reason "bad deploy"')).toEqual({
      deployment: 'api',
      env: 'prod',
      to: 4,
      reason: 'bad deploy',
    });
  });

  it.each([
    ['rollback --env prod', '<deployment> is required.'],
    ['rollback api', '--env is required.'],
    ['rollback API --env prod', '<deployment> must be lowercase'],
    ['rollback api_v2 --env prod', '<deployment> must be lowercase'],
    ['rollback api --env prod --to 0', '--to must be a positive whole number.'],
    ['rollback api --env prod --to -1', '--to must be a positive whole number.'],
    ['rollback api --env', '--env needs a value.'],
    ['rollback api --env prod --to', '--to needs a value.'],
    ['rollback api --env prod --to 1.5', '--to must be a positive whole number.'],
    ['rollback api --env prod --to 1e3', '--to must be a positive whole number.'],
    ['rollback api extra --env prod', 'Unexpected argument "extra".'],
    ['rollback api --env prod --force', 'Unknown flag --force.'],
    ['rollback api --env prod --reason x', '--reason must say why'],
  ])('%s → %s', (text, error) => {
    expect(() => parse(text)).toThrow(error);
  });

  it('refuses names longer than a DNS label', () => {
    expect(() => parse(`rollback ${'a'.repeat(64)} --env prod`)).toThrow(/at most 63/);
  });
});

describe('incident-channel defaults', () => {
  const defaults = { environment: 'prod', deployment: 'api' };
  const fill = (text: string, command = rollback) => {
    const input = parseInput(text);
    return withDefaults(
      { words: input.words, flags: input.flags },
      command.parse as ArgsParser<unknown>,
      defaults,
    );
  };

  it('fills a missing deployment and --env, and never overrides what was typed', () => {
    expect(fill('')).toEqual({ words: ['api'], flags: { env: 'prod' } });
    expect(fill('web --env staging')).toEqual({ words: ['web'], flags: { env: 'staging' } });
  });

  it('puts the deployment before a bare replica count', () => {
    expect(fill('5', scale)).toEqual({ words: ['api', '5'], flags: { env: 'prod' } });
    expect(fill('web', scale)).toEqual({ words: ['web'], flags: { env: 'prod' } });
  });
});
