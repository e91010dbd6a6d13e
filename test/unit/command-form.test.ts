import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { commands } from '../../commands/index.js';
import { OpsbotConfig } from '../../src/config/schema.js';
import { parseInput } from '../../src/core/grammar.js';
import {
  commandText,
  formActions,
  formCommands,
  formContext,
  formEnvironments,
} from '../../src/engine/command-form.js';
import { findCommand } from '../../src/engine/command-module.js';
import { DEFAULT_CONFIG, USERS } from '../helpers/world.js';

const config = OpsbotConfig.parse(parse(DEFAULT_CONFIG));
const forms = formCommands(commands);
const form = (name: string) => forms.find((f) => f.command.name === name)!;
const person = (id: string, groups: string[] = []) => ({ userId: id, groups: new Set(groups) });

/** What the grammar makes of the text a form builds: the same as if it had been typed. */
function reparse(text: string) {
  const input = parseInput(text);
  const found = findCommand(input.words, commands)!;
  return { name: found.command.name, args: found.command.parse({ words: found.rest, flags: input.flags }) };
}

describe('forms from command arguments', () => {
  it('offers the commands that act on one deployment in one environment', () => {
    expect(forms.map((f) => f.command.name).sort()).toEqual([
      'history',
      'pause',
      'restart',
      'resume',
      'rollback',
      'scale',
      'status',
    ]);
    // The fields are the parser's declared arguments, in order.
    expect(form('rollback').args.map((a) => a.name)).toEqual([
      'deployment',
      'env',
      'reason',
      'emergency',
      'to',
    ]);
    expect(form('scale').args.find((a) => a.name === 'replicas')).toMatchObject({
      positional: true,
      required: true,
    });
  });

  it('offers only the environments and actions a role grants', () => {
    expect(formEnvironments(config, person(USERS.oncall.id), forms)).toEqual(['staging', 'prod']);
    expect(formEnvironments(config, person(USERS.developer.id, ['engineering']), forms)).toEqual(['staging']);
    expect(formEnvironments(config, person(USERS.stranger.id), forms)).toEqual([]);
    const dev = formActions(config, person(USERS.developer.id, ['engineering']), forms, 'staging');
    expect(dev.map((f) => f.command.name).sort()).toEqual(['history', 'restart', 'status']);
    expect(formActions(config, person(USERS.developer.id, ['engineering']), forms, 'prod')).toEqual([]);
    expect(formContext(config, person(USERS.oncall.id), form('scale'), 'prod')).toMatchObject({
      scale: { min: 2, max: 50 },
      reasonRequired: true,
    });
    expect(formContext(config, person(USERS.oncall.id), form('status'), 'prod').reasonRequired).toBe(false);
  });

  it('builds the text a user would type, which the grammar reads back to the same values', () => {
    const text = commandText(form('rollback'), {
      deployment: 'api',
      env: 'prod',
      to: '3',
      reason: 'bad "deploy", see --env note',
    });
    expect(text).toBe(`rollback api --env=prod --reason='bad "deploy", see --env note' --to=3`);
    expect(reparse(text)).toEqual({
      name: 'rollback',
      args: { deployment: 'api', env: 'prod', to: 3, reason: 'bad "deploy", see --env note' },
    });
    // Both straight quotes in the text: curly ones wrap it.
    const both = commandText(form('restart'), { deployment: 'web', env: 'staging', reason: `it's "stuck"` });
    expect(reparse(both).args).toMatchObject({ reason: `it's "stuck"` });
    // A ticked boolean flag, and empty optional fields left out.
    expect(
      commandText(form('scale'), {
        deployment: 'web',
        env: 'prod',
        replicas: '4',
        emergency: true,
        reason: '',
      }),
    ).toBe('scale web 4 --env=prod --emergency');
  });
});
