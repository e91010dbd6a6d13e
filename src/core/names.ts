import { z } from 'zod';

/** A DNS-1123 label: what Kubernetes accepts as a deployment, namespace or environment name. */
export const Dns1123Label = z
  .string()
  .max(63, 'must be at most 63 characters')
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    'must be lowercase letters, digits and "-", starting and ending with a letter or digit',
  );

/** A Slack user id (U…/W…) or a user-group handle written "@handle". */
export const SlackMember = z
  .string()
  .regex(
    /^([UW][A-Z0-9]{2,}|@[a-z0-9][a-z0-9._-]*)$/,
    'must be a Slack user id such as U012ABCDEF, or a user-group handle such as "@sre-oncall"',
  );

/** owner/name, as GitHub spells a repository. */
export const RepoSlug = z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'must be "owner/name"');
