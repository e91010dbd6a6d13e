import { PermissionError } from './errors.js';

/** How an environment names the requester to Kubernetes (opsbot.yml `impersonate`). */
export interface ImpersonateTemplate {
  /** `{email}` and `{slackId}` are filled in. */
  user: string;
  /** `{role}` makes one group per opsbot role the requester holds. */
  groups: readonly string[];
}

/** What is known of the requester when a job starts. */
export interface Requester {
  slackId: string;
  /** From opsbot.yml `users`, else the Slack profile; undefined when neither has one. */
  email: string | undefined;
  /** The opsbot roles the requester holds. */
  roles: readonly string[];
}

export interface Identity {
  user: string;
  groups: string[];
}

export function needsEmail(template: ImpersonateTemplate): boolean {
  return template.user.includes('{email}') || template.groups.some((g) => g.includes('{email}'));
}

/** The Kubernetes user and groups a requester acts as; refuses when `{email}` is needed and unknown. */
export function identityOf(template: ImpersonateTemplate, requester: Requester): Identity {
  const fill = (text: string) => {
    if (text.includes('{email}') && !requester.email) {
      throw new PermissionError(
        `opsbot cannot act as you in Kubernetes: your Slack profile shows no email, and opsbot.yml's users map does not name ${requester.slackId}. Ask an admin to add you there.`,
      );
    }
    return text.replaceAll('{email}', requester.email ?? '').replaceAll('{slackId}', requester.slackId);
  };
  const groups = template.groups.flatMap((g) =>
    g.includes('{role}') ? requester.roles.map((role) => fill(g.replaceAll('{role}', role))) : [fill(g)],
  );
  return { user: fill(template.user), groups: [...new Set(groups)].sort() };
}
