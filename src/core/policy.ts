/** A permission a role can be granted, named by the command that checks it ("rollback", "env.open"). */
export type Action = string;

/** What policy reads of opsbot.yml: who holds which role, what roles may do, and where. */
export interface PolicyConfig {
  roles: Readonly<
    Record<
      string,
      {
        members: readonly string[];
        can: readonly { actions: readonly Action[]; environments: readonly string[] }[];
        approve: readonly string[];
        emergency: readonly string[];
      }
    >
  >;
  environments: Readonly<
    Record<string, { protected?: boolean | undefined; channels?: readonly string[] | undefined }>
  >;
}

/** Who is asking, as far as policy cares: the Slack user, the user groups they are in, and where they asked. */
export interface Principal {
  userId: string;
  /** User-group handles (without "@") the user belongs to. */
  groups: ReadonlySet<string>;
  /** Set when memberships could not be checked: `groups` is then empty, and denials say why. */
  groupsUnavailable?: string | undefined;
  channel: {
    id: string;
    name?: string | undefined;
    isIncident?: boolean | undefined;
    /** The environment of the channel's incident: the only one for which it counts as "incident". */
    incidentEnvironment?: string | undefined;
  };
}

export type Decision =
  | { allowed: true; grantedBy: string[] }
  | {
      allowed: false;
      reason: string /** Rules that would have allowed it, e.g. "roles.oncall.can[0]". */;
      wouldAllow: string[];
    };

export function isMember(
  members: readonly string[],
  principal: Pick<Principal, 'userId' | 'groups'>,
): boolean {
  return members.some((m) => (m.startsWith('@') ? principal.groups.has(m.slice(1)) : m === principal.userId));
}

export function rolesOf(config: PolicyConfig, principal: Pick<Principal, 'userId' | 'groups'>): string[] {
  return Object.entries(config.roles)
    .filter(([, role]) => isMember(role.members, principal))
    .map(([name]) => name);
}

/** The grants, across every role, that allow `action` in `environment`, as config key paths. */
function grantsFor(
  config: PolicyConfig,
  action: Action,
  environment: string,
): { role: string; rule: string }[] {
  const found: { role: string; rule: string }[] = [];
  for (const [roleName, role] of Object.entries(config.roles)) {
    role.can.forEach((grant, i) => {
      if (grant.actions.includes(action) && grant.environments.includes(environment)) {
        found.push({ role: roleName, rule: `roles.${roleName}.can[${i}]` });
      }
    });
  }
  return found;
}

function channelAllowed(config: PolicyConfig, environment: string, channel: Principal['channel']): boolean {
  const allowed = config.environments[environment]?.channels;
  if (!allowed) return true;
  return allowed.some(
    (entry) =>
      entry === channel.id ||
      (channel.name !== undefined && entry === `#${channel.name}`) ||
      (entry === 'incident' &&
        channel.isIncident === true &&
        channel.incidentEnvironment !== undefined &&
        channel.incidentEnvironment === environment),
  );
}

/** Deny by default: allowed only when a role the user holds grants this action in this environment. */
export function authorize(
  config: PolicyConfig,
  principal: Principal,
  action: Action,
  environment: string,
): Decision {
  if (!Object.hasOwn(config.environments, environment)) {
    return { allowed: false, reason: `there is no environment "${environment}"`, wouldAllow: [] };
  }
  const grants = grantsFor(config, action, environment);
  const held = new Set(rolesOf(config, principal));
  const mine = grants.filter((g) => held.has(g.role));
  if (mine.length === 0) {
    const rules = grants.map((g) => g.rule);
    const roles = [...new Set(grants.map((g) => g.role))];
    const byGroup = roles.some((r) => config.roles[r]?.members.some((m) => m.startsWith('@')));
    const reason =
      grants.length === 0
        ? `no role may run ${action} in ${environment}`
        : `${action} in ${environment} needs role ${roles.join(' or ')}, which you do not hold${byGroup && principal.groupsUnavailable ? ` (${principal.groupsUnavailable})` : ''}`;
    return { allowed: false, reason, wouldAllow: rules };
  }
  if (!channelAllowed(config, environment, principal.channel)) {
    const where = config.environments[environment]?.channels?.join(', ') ?? '';
    return {
      allowed: false,
      reason: `${environment} actions may only be taken from ${where}`,
      wouldAllow: [`environments.${environment}.channels`],
    };
  }
  return { allowed: true, grantedBy: mine.map((g) => g.rule) };
}

/** A second person approves: they hold `approve` for the environment and did not make the request. */
export function authorizeApproval(
  config: PolicyConfig,
  approver: Pick<Principal, 'userId' | 'groups' | 'groupsUnavailable'>,
  environment: string,
  requesterId: string,
): Decision {
  if (approver.userId === requesterId) {
    return { allowed: false, reason: 'you cannot approve your own request', wouldAllow: [] };
  }
  const rules = Object.entries(config.roles)
    .filter(([, role]) => role.approve.includes(environment))
    .map(([name, role]) => ({ name, role }));
  const mine = rules.filter(({ role }) => isMember(role.members, approver));
  if (mine.length === 0) {
    return {
      allowed: false,
      reason: `approving in ${environment} needs role ${rules.map((r) => r.name).join(' or ') || '(none configured)'}${approver.groupsUnavailable && rules.some(({ role }) => role.members.some((m) => m.startsWith('@'))) ? ` (${approver.groupsUnavailable})` : ''}`,
      wouldAllow: rules.map((r) => `roles.${r.name}.approve`),
    };
  }
  return { allowed: true, grantedBy: mine.map((r) => `roles.${r.name}.approve`) };
}

/** Break-glass: members of a role listing the environment under `emergency` may skip approval. */
export function mayUseEmergency(
  config: PolicyConfig,
  principal: Pick<Principal, 'userId' | 'groups'>,
  environment: string,
): boolean {
  return Object.values(config.roles).some(
    (role) => role.emergency.includes(environment) && isMember(role.members, principal),
  );
}

/** Everything a user may run, for `/ops whoami` and a help text that shows only what applies. */
export function grantsOf(
  config: PolicyConfig,
  principal: Pick<Principal, 'userId' | 'groups'>,
): Map<Action, string[]> {
  const out = new Map<Action, string[]>();
  for (const roleName of rolesOf(config, principal)) {
    for (const grant of config.roles[roleName]?.can ?? []) {
      for (const action of grant.actions) {
        const envs = out.get(action) ?? [];
        out.set(action, [...new Set([...envs, ...grant.environments])]);
      }
    }
  }
  return out;
}

export function needsApproval(config: PolicyConfig, environment: string): boolean {
  return config.environments[environment]?.protected === true;
}
