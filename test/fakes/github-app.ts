import { createPublicKey, type KeyObject, randomBytes, verify } from 'node:crypto';

/**
 * The GitHub App side of the GitHub fake: a JWT signed with the app's private key is exchanged for
 * an installation access token that expires, and that GitHub may revoke before it does.
 *
 * - JWT: https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
 *   (RS256; iss = the app id; iat may be set 60 s in the past for clock drift; exp at most 10 minutes ahead).
 * - Token: https://docs.github.com/en/rest/apps/apps#create-an-installation-access-token-for-an-app
 *   (201 with token, expires_at, permissions, repository_selection; tokens last an hour).
 * - Early revocation: https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/authenticating-as-a-github-app-installation
 *   (a token stops working when it expires or the installation's permissions or repositories change).
 */
export interface GitHubAppOptions {
  id: number;
  /** The public half of the app's private key (GitHub keeps only that). */
  publicKey: string | KeyObject;
  installationId: number;
  /** Lifetime of an installation token; GitHub's is one hour. */
  tokenTtlMs?: number;
}

export interface IssuedToken {
  token: string;
  expiresAt: number;
  revoked: boolean;
}

/** GitHub's own 401 messages; @octokit/auth-app matches the exp/iat ones to correct clock skew. */
export const JWT_UNDECODABLE = 'A JSON web token could not be decoded';
const EXP_PAST =
  "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
const EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future";
const IAT_INVALID =
  "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
/** GitHub accepts an exp up to 10 minutes ahead; the fake allows a minute of drift on top, as iat does. */
const MAX_JWT_LIFETIME_S = 600;
const DRIFT_S = 60;

function decodePart(part: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export class GitHubAppFake {
  private key: KeyObject;
  readonly issued: IssuedToken[] = [];

  constructor(readonly options: GitHubAppOptions) {
    this.key = createPublicKey(options.publicKey);
  }

  /** The app's key was regenerated: JWTs signed with the old private key no longer verify. */
  setPublicKey(publicKey: string | KeyObject): void {
    this.key = createPublicKey(publicKey);
  }

  /** Tokens issued from now on live this long. */
  setTokenTtl(ms: number): void {
    this.options.tokenTtlMs = ms;
  }

  /** What GitHub does when an installation's permissions change: every token stops working at once. */
  revokeTokens(): void {
    for (const t of this.issued) t.revoked = true;
  }

  /** The 401 message for a JWT GitHub would refuse, or undefined when it is good. */
  verifyJwt(jwt: string, nowMs: number): string | undefined {
    const [head, body, signature, ...rest] = jwt.split('.');
    if (rest.length > 0 || !head || !body || !signature) return JWT_UNDECODABLE;
    const header = decodePart(head);
    const claims = decodePart(body);
    if (header?.alg !== 'RS256' || !claims) return JWT_UNDECODABLE;
    const signed = verify(
      'RSA-SHA256',
      Buffer.from(`${head}.${body}`),
      this.key,
      Buffer.from(signature, 'base64url'),
    );
    if (!signed || String(claims.iss) !== String(this.options.id)) return JWT_UNDECODABLE;
    const now = Math.floor(nowMs / 1000);
    const { iat, exp } = claims;
    if (typeof iat !== 'number' || !Number.isInteger(iat) || iat > now + DRIFT_S) return IAT_INVALID;
    if (typeof exp !== 'number' || !Number.isInteger(exp) || exp <= now) return EXP_PAST;
    if (exp > now + MAX_JWT_LIFETIME_S + DRIFT_S) return EXP_TOO_FAR;
    return undefined;
  }

  /** A new installation access token: `ghs_` and 36 characters, as GitHub's are. */
  issue(nowMs: number): IssuedToken {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const token = `ghs_${Array.from(randomBytes(36), (b) => alphabet[b % alphabet.length]).join('')}`;
    // expires_at has whole seconds, so the time a client reads is exactly when the token stops working.
    const expiresAt = Math.floor((nowMs + (this.options.tokenTtlMs ?? 3_600_000)) / 1000) * 1000;
    const issued = { token, expiresAt, revoked: false };
    this.issued.push(issued);
    return issued;
  }

  /** True for a token this app issued that has neither expired nor been revoked. */
  accepts(token: string, nowMs: number): boolean {
    const found = this.issued.find((t) => t.token === token);
    return found !== undefined && !found.revoked && nowMs < found.expiresAt;
  }
}
