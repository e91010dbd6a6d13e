import { ClusterDeniedError } from '../core/errors.js';
import type { ClusterIdentity, ClusterTarget, ResourceAccess } from '../ports.js';
import type { CommandModule, RunContext } from './command-module.js';

/** The text the API server gives for a refused request, so the reply reads as the cluster would say it. */
export function forbiddenText(identity: ClusterIdentity, access: ResourceAccess, namespace: string): string {
  const resource = access.subresource ? `${access.resource}/${access.subresource}` : access.resource;
  return `User ${JSON.stringify(identity.user)} cannot ${access.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(access.group)} in the namespace ${JSON.stringify(namespace)}`;
}

/** The audit and reply text of a refusal: "denied by cluster RBAC: …", with the cluster's own reason when it gave one. */
export function clusterDenial(
  target: ClusterTarget,
  identity: ClusterIdentity,
  access: ResourceAccess,
  reason: string,
): ClusterDeniedError {
  const groups = identity.groups.length > 0 ? ` (groups: ${identity.groups.join(', ')})` : '';
  const text = `denied by cluster RBAC: ${forbiddenText(identity, access, target.namespace)}${groups}${reason ? `. The cluster said: ${reason}` : ''}`;
  return new ClusterDeniedError(text);
}

/**
 * Before a command acts where opsbot impersonates, asks the API server (SubjectAccessReview) whether
 * the requester may make each request the command will make. Throws ClusterDeniedError on the first
 * "no", before anything is sent as them.
 */
export async function reviewClusterAccess(
  ctx: Pick<RunContext, 'cluster' | 'target'>,
  command: Pick<CommandModule, 'clusterAccess'>,
  args: unknown,
): Promise<void> {
  for (const { environment, ...access } of command.clusterAccess?.(args) ?? []) {
    const target = ctx.target(environment);
    if (!target.identity) continue;
    const review = await ctx.cluster.reviewAccess(target, target.identity, access);
    if (!review.allowed) throw clusterDenial(target, target.identity, access, review.reason);
  }
}
