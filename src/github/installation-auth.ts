import type { Octokit } from '@octokit/rest';

type Request = Octokit['request'];

/** Options Octokit passes to an authStrategy: its own request and log, plus the `auth` option. */
export interface InstallationAuthOptions {
  appId: string | number;
  privateKey: string;
  installationId: string | number;
  request?: Request;
  log?: { warn(message: string): void };
}

/** Refresh this long before expires_at, capped at a quarter of the token's life (GitHub's last an hour). */
const REFRESH_BEFORE_MS = 5 * 60_000;

/**
 * Routes that need the app's JWT rather than an installation token, as @octokit/auth-app lists them
 * (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/authenticating-as-a-github-app).
 */
const APP_ROUTES =
  /^\/(app(\/.*)?|marketplace_listing\/.*|(orgs|users|enterprises)\/[^/]+\/installation|repos\/[^/]+\/[^/]+\/installation)$/i;

interface Token {
  token: string;
  expiresAt: number;
  refreshAt: number;
}

/**
 * Octokit auth strategy for a GitHub App installation. @octokit/auth-app keeps an installation
 * token for 59 minutes whatever `expires_at` GitHub answered, and gives up on a 401 that comes
 * more than 5 s after the token was made. GitHub revokes tokens early when the installation's
 * permissions or repositories change, and Enterprise Server may issue shorter ones. So: a token is
 * used only until shortly before its `expires_at`, and a 401 gets one fresh token and one retry.
 */
export function createInstallationAuth(options: InstallationAuthOptions) {
  // Loaded with the first token: a deployment that authenticates with GITHUB_TOKEN never loads
  // @octokit/auth-app and its OAuth and JWT packages.
  let loading: Promise<ReturnType<typeof import('@octokit/auth-app').createAppAuth>> | undefined;
  const appAuth = () =>
    (loading ??= import('@octokit/auth-app').then(({ createAppAuth }) =>
      createAppAuth({
        appId: options.appId,
        privateKey: options.privateKey,
        installationId: options.installationId,
        ...(options.request ? { request: options.request } : {}),
        ...(options.log ? { log: options.log } : {}),
      }),
    ));
  let current: Token | undefined;
  let pending: Promise<Token> | undefined;

  const obtain = (): Promise<Token> => {
    pending ??= appAuth()
      .then((auth) => auth({ type: 'installation', refresh: true }))
      .then(({ token, expiresAt }) => {
        const now = Date.now();
        const expires = Date.parse(expiresAt);
        const margin = Math.min(REFRESH_BEFORE_MS, Math.max(0, expires - now) / 4);
        current = { token, expiresAt: expires, refreshAt: expires - margin };
        return current;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };

  /** The token to use now; `rejected` names one GitHub refused, which is never handed out again. */
  const token = async (rejected?: string): Promise<string> => {
    const usable = current && current.token !== rejected && Date.now() < current.refreshAt;
    return usable && current ? current.token : (await obtain()).token;
  };

  const auth = async () => ({
    type: 'token' as const,
    tokenType: 'installation' as const,
    token: await token(),
  });

  const hook = async (
    request: Request,
    route: Parameters<Request>[0],
    parameters?: Parameters<Request>[1],
  ) => {
    const merged = request.endpoint.merge(route as string, parameters);
    const endpoint = { ...merged, url: merged.url ?? '' };
    const path = endpoint.url.replace(request.endpoint.DEFAULTS.baseUrl, '').split('?')[0] ?? '';
    if (APP_ROUTES.test(path)) return (await appAuth()).hook(request, route as string, parameters);
    const used = await token();
    endpoint.headers.authorization = `token ${used}`;
    try {
      return await request(endpoint);
    } catch (err) {
      if ((err as { status?: number }).status !== 401) throw err;
      options.log?.warn('installation token refused (401); requesting a new one and retrying once');
      endpoint.headers.authorization = `token ${await token(used)}`;
      return request(endpoint);
    }
  };

  return Object.assign(auth, { hook });
}
