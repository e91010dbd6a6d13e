/** `owner/name`, as opsbot.yml and incident records spell a repository, in Octokit's parameters. */
export function repoParams(fullName: string): { owner: string; repo: string } {
  const [owner = '', repo = ''] = fullName.split('/');
  return { owner, repo };
}
