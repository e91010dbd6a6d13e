import { describe, expect, it } from 'vitest';
import { claimOf, claimOfRaw, workspaceRefusal } from '../../src/slack/workspace.js';
import { blockActionPayload, slashCommandBody } from '../fakes/slack-signing.js';

const EXPECTED = { teamId: 'T0TEST', appId: 'A0OPSBOT' };

describe('the workspace and app a Slack request claims', () => {
  it('is read from slash commands, button clicks and event callbacks, raw (HTTP) or parsed (Socket Mode)', () => {
    const slash = slashCommandBody({ team_id: 'T0TEST', api_app_id: 'A0OPSBOT', user_id: 'U1' });
    expect(claimOfRaw(Buffer.from(slash), 'application/x-www-form-urlencoded')).toMatchObject({
      teamId: 'T0TEST',
      appId: 'A0OPSBOT',
      userId: 'U1',
    });
    // Bolt hands middleware the parsed form, as Socket Mode delivers it.
    expect(claimOf(Object.fromEntries(new URLSearchParams(slash)))).toMatchObject({ teamId: 'T0TEST' });
    const click = blockActionPayload({ user: 'U2', actionId: 'approval.approve', value: 'x' });
    const form = `payload=${encodeURIComponent(JSON.stringify(click))}`;
    expect(claimOfRaw(Buffer.from(form), 'application/x-www-form-urlencoded')).toMatchObject({
      teamId: 'T0TEST',
      appId: 'A0OPSBOT',
      userId: 'U2',
    });
    const event = { type: 'event_callback', team_id: 'T0TEST', api_app_id: 'A0OPSBOT', event: {} };
    expect(claimOfRaw(Buffer.from(JSON.stringify(event)), 'application/json')).toMatchObject({
      teamId: 'T0TEST',
    });
  });

  it('is refused when it names another team or app, or none; handshakes pass', () => {
    expect(workspaceRefusal(EXPECTED, { teamId: 'T0TEST', appId: 'A0OPSBOT' })).toBeUndefined();
    expect(workspaceRefusal(EXPECTED, { teamId: 'T0EVIL', appId: 'A0OPSBOT' })).toBe('team_id');
    expect(workspaceRefusal(EXPECTED, { teamId: 'T0TEST', appId: 'A0OTHER' })).toBe('api_app_id');
    expect(workspaceRefusal(EXPECTED, {})).toBe('team_id');
    expect(workspaceRefusal({ appId: 'A0OPSBOT' }, { teamId: 'T0ANY', appId: 'A0OPSBOT' })).toBeUndefined();
    expect(workspaceRefusal(EXPECTED, claimOf({ type: 'url_verification', challenge: 'c' }))).toBeUndefined();
    // Enterprise Grid: an org id (E…) is compared with the request's enterprise.
    const grid = claimOf({ team_id: 'T0ANY', enterprise_id: 'E0ORG', api_app_id: 'A0OPSBOT' });
    expect(workspaceRefusal({ teamId: 'E0ORG', appId: 'A0OPSBOT' }, grid)).toBeUndefined();
    expect(workspaceRefusal({ teamId: 'E0OTHER' }, grid)).toBe('team_id');
  });

  it('is unknown for a body that does not parse, and so refused', () => {
    expect(claimOfRaw(Buffer.from('{not json'), 'application/json')).toEqual({});
    expect(workspaceRefusal(EXPECTED, claimOfRaw(Buffer.from('payload=%7Bbad'), undefined))).toBe('team_id');
  });
});
