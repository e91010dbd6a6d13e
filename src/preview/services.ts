import type { Manifest } from '../core/preview-template.js';
import type { Directory, PullRequests, Workspaces } from '../ports.js';

/** What the env commands need beyond the Cluster port; absent when the bot runs without previews. */
export interface PreviewServices {
  workspaces: Workspaces;
  /** Absent without a GitHub token: --pr is then refused. */
  pullRequests?: PullRequests | undefined;
  /** To check someone else's rights (env.close-any) inside the job. */
  directory: Directory;
  loadTemplate(dir: string): Promise<Manifest[]>;
}
