import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { ConfigError, type GitsyncError, UnavailableError } from '../../core/errors.ts';
import { trimTrailingSlash } from '../../core/origin.ts';
import {
  type GitHubAppConfig,
  type HeaderReader,
  type RepoCredential,
  type RepoCredentials,
  type RepoRef,
  repoKey,
} from '../types.ts';
import { readErrorBody, translateGitHubError } from './errors.ts';

/**
 * A GitHub App's private key from its PEM text (as GitHub's "Generate a private key" downloads it,
 * PKCS#1 `BEGIN RSA PRIVATE KEY`, or PKCS#8). Environment files often hold it on one line with
 * `\n` escapes: those are read as line breaks. `what` names the setting in errors, which never
 * quote the key.
 */
export function parseAppPrivateKey(pem: string, what: string): KeyObject {
  const text = pem.includes('\n') ? pem : pem.replaceAll('\\n', '\n');
  if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(text))
    throw new ConfigError(`${what} does not hold a PEM private key (-----BEGIN RSA PRIVATE KEY-----)`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch {
    // The cause is not kept: OpenSSL's words may quote what it could not read.
    throw new ConfigError(`${what} does not hold a readable PEM private key`);
  }
  // GitHub signs and verifies App JWTs with RS256 only ("Generating a JSON Web Token (JWT) for a GitHub App").
  if (key.asymmetricKeyType !== 'rsa')
    throw new ConfigError(
      `${what} holds a ${key.asymmetricKeyType ?? 'non-RSA'} key; a GitHub App's key is RSA`,
    );
  return key;
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * How long an App's JWT lives. GitHub refuses one whose `exp` is more than 10 minutes after its
 * clock's now ("'Expiration time' claim ('exp') is too far in the future"); a minute under that
 * leaves room for our clock running ahead of GitHub's.
 */
export const JWT_LIFETIME_S = 9 * 60;
/** `iat` this far in the past, as GitHub advises, against clock drift. */
export const JWT_BACKDATE_S = 60;

/**
 * The App's JSON Web Token (RFC 7519): RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3),
 * `iat` a minute in the past, `exp` under 10 minutes ahead, `iss` the App's id (GitHub docs,
 * "Generating a JSON Web Token (JWT) for a GitHub App").
 */
export function appJwt(appId: string, key: KeyObject, now: Date): string {
  const seconds = Math.floor(now.getTime() / 1000);
  const head = base64url({ alg: 'RS256', typ: 'JWT' });
  const body = base64url({
    iat: seconds - JWT_BACKDATE_S,
    exp: seconds + JWT_LIFETIME_S,
    iss: Number(appId),
  });
  const signature = sign('sha256', Buffer.from(`${head}.${body}`), key).toString('base64url');
  return `${head}.${body}.${signature}`;
}

/** Installation tokens are renewed this long before GitHub's `expires_at` (they live an hour). */
export const RENEW_BEFORE_MS = 5 * 60_000;
/** How long a repository's installation is believed without asking again (webhooks correct it sooner). */
const INSTALLATION_TTL_MS = 60 * 60_000;
/** How long "not installed" (or suspended) is believed: an App installed later serves within this. */
const NOT_INSTALLED_TTL_MS = 10 * 60_000;
/** A JWT is reused while it has this long to live. */
const JWT_REUSE_MARGIN_S = 4 * 60;

const installationSchema = z.object({ id: z.number().int(), suspended_at: z.string().nullish() });
const tokenSchema = z.object({ token: z.string().min(1), expires_at: z.string() });
const deliverySchema = z.object({
  action: z.string(),
  installation: z.object({ id: z.number().int() }),
  repositories_removed: z.array(z.object({ full_name: z.string() })).nullish(),
});

interface Minted {
  token: string;
  expiresAt: number;
}

export interface GitHubAppOptions {
  clock: Clock;
  fetch?: typeof fetch | undefined;
  requestTimeoutMs?: number | undefined;
}

/**
 * A GitHub App's installations as one provider's credentials: which installation covers a
 * repository (`GET /repos/{owner}/{repo}/installation`, or the configured one), and that
 * installation's token (`POST /app/installations/{id}/access_tokens`), minted once for all
 * concurrent callers, kept until 5 minutes before it expires, and dropped at once when a webhook
 * says the installation was deleted, suspended or lost repositories. Each installation is a
 * budget of its own (GitHub rate-limits installation tokens per installation), keyed by its id.
 * The JWT and the tokens are only ever sent to this provider's API.
 */
export class GitHubApp implements RepoCredentials {
  readonly #apiUrl: string;
  readonly #app: GitHubAppConfig;
  readonly #clock: Clock;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  #jwt: { value: string; exp: number } | null = null;
  /** Per repository (`owner/name`, lower-case): its installation (null: none) and when that was learnt. */
  readonly #installations = new Map<string, { id: number | null; at: number }>();
  readonly #lookups = new Map<string, Promise<number | null>>();
  readonly #tokens = new Map<number, Minted>();
  readonly #mints = new Map<number, Promise<Minted | null>>();
  /** Bumped when an installation's tokens are dropped: a mint in flight then is not kept. */
  readonly #epochs = new Map<number, number>();
  /** Installations GitHub says are deleted (ids are never reused). */
  readonly #deleted = new Set<number>();
  /** Installations suspended, until when that is believed without asking again. */
  readonly #suspended = new Map<number, number>();
  /** Requests made, for tests and benchmarks: lookups and mints. */
  readonly counts = { lookups: 0, mints: 0 };

  constructor(apiUrl: string, app: GitHubAppConfig, options: GitHubAppOptions) {
    this.#apiUrl = trimTrailingSlash(apiUrl);
    this.#app = app;
    this.#clock = options.clock;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = options.requestTimeoutMs ?? 15_000;
  }

  get appId(): string {
    return this.#app.app_id;
  }

  static budgetKey(apiUrl: string, installation: number): string {
    return `github-app-installation ${trimTrailingSlash(apiUrl)} ${installation}`;
  }

  async forRepo(repo: RepoRef, signal?: AbortSignal): Promise<RepoCredential | null> {
    const installation = this.#app.installation_id ?? (await this.#installationOf(repo, signal));
    if (installation === null || !this.#usable(installation)) return null;
    const minted = await this.#token(installation, signal);
    if (!minted) return null;
    return {
      token: minted.token,
      budgetKey: GitHubApp.budgetKey(this.#apiUrl, installation),
    };
  }

  /**
   * GitHub refused an installation's token (revoked: the installation was deleted or suspended
   * and this replica did not hear it): dropped with what is known of its repositories, so that
   * the next call asks GitHub which installation they are in.
   */
  rejected(budgetKey: string): void {
    for (const id of this.#tokens.keys())
      if (GitHubApp.budgetKey(this.#apiUrl, id) === budgetKey) this.#drop(id, true);
  }

  budgetKeys(): string[] {
    return [...this.#tokens.keys()].map((id) => GitHubApp.budgetKey(this.#apiUrl, id));
  }

  /** The installation token cached for `installation`, if any (tests). */
  cachedToken(installation: number): { token: string; expires_at: Date } | null {
    const t = this.#tokens.get(installation);
    return t ? { token: t.token, expires_at: new Date(t.expiresAt) } : null;
  }

  /**
   * An App webhook delivery, verified: `installation` deleted or suspended drops the
   * installation's tokens at once (and, deleted, for good); unsuspended, created or new
   * permissions accepted lets it be asked again; `installation_repositories` removed forgets
   * those repositories' installation and drops its tokens; added makes repositories believed
   * not installed be asked again (GitHub docs, "Webhook events and payloads": installation,
   * installation_repositories).
   */
  received(header: HeaderReader, payload: unknown): void {
    const event = header('x-github-event');
    if (event !== 'installation' && event !== 'installation_repositories') return;
    const parsed = deliverySchema.safeParse(payload);
    if (!parsed.success) return;
    const { action, installation, repositories_removed } = parsed.data;
    const id = installation.id;
    if (event === 'installation') {
      if (action === 'deleted' || action === 'suspend') {
        if (action === 'deleted') this.#deleted.add(id);
        else this.#suspended.set(id, this.#clock.now().getTime() + NOT_INSTALLED_TTL_MS);
        this.#drop(id, true);
      } else if (action === 'unsuspend' || action === 'created' || action === 'new_permissions_accepted') {
        this.#suspended.delete(id);
        this.#drop(id, false);
        this.#forgetNotInstalled();
      }
      return;
    }
    if (action === 'removed') {
      for (const { full_name } of repositories_removed ?? [])
        this.#installations.delete(full_name.toLowerCase());
      this.#drop(id, false);
    } else if (action === 'added') this.#forgetNotInstalled();
  }

  #usable(installation: number): boolean {
    if (this.#deleted.has(installation)) return false;
    const until = this.#suspended.get(installation);
    if (until === undefined) return true;
    if (until > this.#clock.now().getTime()) return false;
    this.#suspended.delete(installation);
    return true;
  }

  /** Drops an installation's token (and a mint in flight); `forget`: its repositories too. */
  #drop(installation: number, forget: boolean): void {
    this.#tokens.delete(installation);
    this.#mints.delete(installation);
    this.#epochs.set(installation, (this.#epochs.get(installation) ?? 0) + 1);
    if (forget)
      for (const [repo, known] of this.#installations)
        if (known.id === installation) this.#installations.delete(repo);
  }

  #forgetNotInstalled(): void {
    for (const [repo, known] of this.#installations) if (known.id === null) this.#installations.delete(repo);
  }

  async #installationOf(repo: RepoRef, signal: AbortSignal | undefined): Promise<number | null> {
    const key = repoKey(repo);
    const now = this.#clock.now().getTime();
    const known = this.#installations.get(key);
    if (known && now - known.at < (known.id === null ? NOT_INSTALLED_TTL_MS : INSTALLATION_TTL_MS))
      return known.id;
    const pending = this.#lookups.get(key);
    if (pending) return pending;
    const lookup = this.#lookUp(repo, signal).finally(() => this.#lookups.delete(key));
    this.#lookups.set(key, lookup);
    const id = await lookup;
    this.#installations.set(key, { id, at: this.#clock.now().getTime() });
    return id;
  }

  /** `GET /repos/{owner}/{repo}/installation` with the App's JWT: 404 when the App is not installed there. */
  async #lookUp(repo: RepoRef, signal: AbortSignal | undefined): Promise<number | null> {
    this.counts.lookups++;
    const path = `/repos/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.name)}/installation`;
    const response = await this.#request('GET', path, 'installation lookup', signal);
    if (response.status === 404) return null;
    if (response.status !== 200) throw await this.#failure(response, 'installation lookup');
    const parsed = installationSchema.safeParse(await response.json().catch(() => null));
    if (!parsed.success)
      throw new UnavailableError('github answered an installation lookup with an unexpected body');
    const { id, suspended_at } = parsed.data;
    if (suspended_at) {
      this.#suspended.set(id, this.#clock.now().getTime() + NOT_INSTALLED_TTL_MS);
      return null;
    }
    this.#suspended.delete(id);
    return id;
  }

  async #token(installation: number, signal: AbortSignal | undefined): Promise<Minted | null> {
    const kept = this.#tokens.get(installation);
    if (kept && kept.expiresAt - RENEW_BEFORE_MS > this.#clock.now().getTime()) return kept;
    const pending = this.#mints.get(installation);
    if (pending) return pending;
    const epoch = this.#epochs.get(installation) ?? 0;
    const mint = this.#mint(installation, signal)
      .then((minted) => {
        // Dropped while it was minted (the installation was deleted): not kept, not used.
        if ((this.#epochs.get(installation) ?? 0) !== epoch) return null;
        if (minted) this.#tokens.set(installation, minted);
        return minted;
      })
      .finally(() => {
        if (this.#mints.get(installation) === mint) this.#mints.delete(installation);
      });
    this.#mints.set(installation, mint);
    return mint;
  }

  /**
   * `POST /app/installations/{id}/access_tokens`: a token for every repository and permission of
   * the installation, valid an hour. 404: the installation is gone; 403: it is suspended.
   */
  async #mint(installation: number, signal: AbortSignal | undefined): Promise<Minted | null> {
    this.counts.mints++;
    const response = await this.#request(
      'POST',
      `/app/installations/${installation}/access_tokens`,
      'installation token',
      signal,
    );
    if (response.status === 404) {
      this.#deleted.add(installation);
      this.#drop(installation, true);
      return null;
    }
    if (
      response.status === 403 &&
      !response.headers.has('retry-after') &&
      response.headers.get('x-ratelimit-remaining') !== '0'
    ) {
      const body = readErrorBody(await response.text().catch(() => ''));
      if (/suspend/i.test(body.messages[0] ?? '')) {
        this.#suspended.set(installation, this.#clock.now().getTime() + NOT_INSTALLED_TTL_MS);
        return null;
      }
      throw this.#refused(403, body.messages[0], 'installation token');
    }
    if (response.status !== 201) throw await this.#failure(response, 'installation token');
    const parsed = tokenSchema.safeParse(await response.json().catch(() => null));
    const expiresAt = parsed.success ? Date.parse(parsed.data.expires_at) : Number.NaN;
    if (!parsed.success || !Number.isFinite(expiresAt))
      throw new UnavailableError('github answered an installation token request with an unexpected body');
    return { token: parsed.data.token, expiresAt };
  }

  async #request(
    method: 'GET' | 'POST',
    path: string,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    try {
      return await this.#fetch(`${this.#apiUrl}${path}`, {
        method,
        headers: {
          accept: 'application/vnd.github+json',
          authorization: `Bearer ${this.#appJwt()}`,
          'user-agent': 'gitsync',
          // https://docs.github.com/en/rest/about-the-rest-api/api-versions
          'x-github-api-version': '2022-11-28',
        },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        redirect: 'manual',
      });
    } catch (cause) {
      const reason = timeout.aborted ? `timed out after ${this.#timeoutMs} ms` : 'unreachable';
      throw new UnavailableError(`github ${what}: ${reason}`, { cause });
    }
  }

  async #failure(response: Response, what: string): Promise<GitsyncError> {
    const body = readErrorBody(await response.text().catch(() => ''));
    if (response.status === 401) return this.#refused(401, body.messages[0], what);
    return translateGitHubError(response.status, response.headers, what, this.#clock.now(), { body });
  }

  /** GitHub refused the App itself (its JWT, or the App's access): the operator must fix the configuration. */
  #refused(status: number, said: string | undefined, what: string): ConfigError {
    const words = said ? `: ${said.slice(0, 200)}` : '';
    return new ConfigError(
      `github refused GitHub App ${this.#app.app_id} (${what}: ${status})${words}; check app_id and the private key`,
    );
  }

  #appJwt(): string {
    const now = this.#clock.now();
    const seconds = Math.floor(now.getTime() / 1000);
    if (this.#jwt && this.#jwt.exp - seconds > JWT_REUSE_MARGIN_S) return this.#jwt.value;
    const value = appJwt(this.#app.app_id, this.#app.private_key, now);
    this.#jwt = { value, exp: seconds + JWT_LIFETIME_S };
    return value;
  }
}
