/**
 * Which workspace and app a Slack request claims, and whether this opsbot serves them. The signing
 * secret proves a request came from Slack; SLACK_TEAM_ID and SLACK_APP_ID say from which workspace
 * and for which app it must come, so a signing secret shared with (or leaked to) another install
 * does not open this one. Field names: https://docs.slack.dev/interactivity/implementing-slash-commands
 * (team_id, api_app_id), https://docs.slack.dev/reference/interaction-payloads/block_actions-payload
 * (team.id, api_app_id) and https://docs.slack.dev/apis/events-api/#callback-field (team_id, api_app_id).
 */
export interface WorkspaceClaim {
  teamId?: string | undefined;
  /** Enterprise Grid: the organization, for an SLACK_TEAM_ID that starts with "E". */
  enterpriseId?: string | undefined;
  appId?: string | undefined;
  /** Slack's URL verification and SSL checks carry no workspace and do nothing here. */
  handshake?: boolean;
  userId?: string | undefined;
}

export interface ExpectedWorkspace {
  teamId?: string | undefined;
  appId?: string | undefined;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const record = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** The claim in a parsed body: a slash command's form fields, an interaction payload or an event callback. */
export function claimOf(body: unknown): WorkspaceClaim {
  const b = record(body);
  const team = record(b.team);
  const user = record(b.user);
  const enterprise = record(b.enterprise);
  return {
    teamId: text(b.team_id) ?? text(team.id) ?? text(user.team_id),
    enterpriseId: text(b.enterprise_id) ?? text(enterprise.id) ?? text(team.enterprise_id),
    appId: text(b.api_app_id),
    handshake: b.type === 'url_verification' || b.ssl_check === '1',
    userId: text(b.user_id) ?? text(user.id),
  };
}

/** The claim in a raw body as it arrives over HTTP: form-encoded (with `payload` JSON) or JSON. */
export function claimOfRaw(raw: Buffer, contentType: string | undefined): WorkspaceClaim {
  const body = raw.toString('utf8');
  try {
    if ((contentType ?? '').includes('application/json')) return claimOf(JSON.parse(body));
    const form = new URLSearchParams(body);
    const payload = form.get('payload');
    if (payload) return claimOf(JSON.parse(payload));
    return claimOf(Object.fromEntries(form));
  } catch {
    return {};
  }
}

/** Why a request is refused, or undefined when it may be served. A missing team or app id is refused too. */
export function workspaceRefusal(expected: ExpectedWorkspace, claim: WorkspaceClaim): string | undefined {
  if (claim.handshake) return undefined;
  if (expected.teamId) {
    const claimed = expected.teamId.startsWith('E') ? claim.enterpriseId : claim.teamId;
    if (claimed !== expected.teamId) return 'team_id';
  }
  if (expected.appId && claim.appId !== expected.appId) return 'api_app_id';
  return undefined;
}
