import { createHmac, createPublicKey, type KeyObject, randomBytes, randomUUID, verify } from 'node:crypto';
import type { GitHubModel } from './model.ts';
import type { Renderer } from './render.ts';

/**
 * GitHub Apps as GitHub's REST API serves them to the App itself (GitHub docs, "REST API endpoints
 * for GitHub Apps" and "Authenticating as a GitHub App"): `GET /app`, `GET /app/installations`,
 * `GET /repos/{owner}/{repo}/installation` and `POST /app/installations/{id}/access_tokens`,
 * authenticated with the App's JWT (RS256, verified with the App's public key); installation
 * tokens (`ghs_…`) valid an hour, each installation one rate-limit budget for all its tokens; and
 * the App's `installation` webhook deliveries when an installation is deleted or suspended.
 * Bodies follow @octokit/openapi's `integration`, `installation` and `installation-token` schemas.
 */

/** The most a JWT's `exp` may be ahead of GitHub's clock ("Generating a JSON Web Token (JWT) for a GitHub App"). */
const MAX_JWT_AHEAD_S = 10 * 60;
/** How far in the future a JWT's `iat` may be before GitHub refuses it (its clock-drift allowance). */
const IAT_SKEW_S = 60;
/** Installation access tokens expire an hour after they are created ("Generating an installation access token"). */
export const INSTALLATION_TOKEN_LIFETIME_MS = 60 * 60_000;
/** The primary rate limit of an installation (GitHub docs, "Rate limits for the REST API": at least 5,000 an hour). */
const INSTALLATION_RATE_LIMIT = 5000;

/** GitHub's words for a refused App JWT (as its API answers them, with 401). */
export const JWT_MESSAGES = {
  undecodable: 'A JSON web token could not be decoded',
  expired:
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
  tooFar: "'Expiration time' claim ('exp') is too far in the future",
  issuedLater:
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
} as const;

export interface EmuApp {
  id: number;
  slug: string;
  name: string;
  owner: string;
  publicKey: KeyObject;
  /** Where the App's webhook deliveries go, with the secret they are signed with (none: not sent). */
  webhook: { url: string; secret: string } | null;
  created_at: Date;
}

export interface EmuInstallation {
  id: number;
  app: EmuApp;
  account: string;
  /** `all`: every repository of the account; otherwise the chosen ones (`owner/name`, lower-case). */
  repositories: 'all' | Set<string>;
  suspended_at: Date | null;
  created_at: Date;
  /** One budget per installation, shared by all its tokens. */
  budget: { limit: number };
}

/** What the host server does for the App routes: tokens it must then accept on the read routes. */
export interface AppHost {
  model: GitHubModel;
  renderer(): Renderer;
  readonly webUrl: string;
  readonly apiUrl: string;
  /** Accept `token` on the read routes as `login`, charging the installation's budget, until `expiresAt`. */
  addInstallationToken(
    token: string,
    login: string,
    installation: number,
    limit: number,
    expiresAt: Date,
  ): void;
  revokeToken(token: string): void;
}

export interface AppAnswer {
  route: 'get_app' | 'list_installations' | 'get_repo_installation' | 'create_installation_token';
  status: number;
  body: unknown;
}

const PERMISSIONS = { pull_requests: 'read', checks: 'read', statuses: 'read', metadata: 'read' } as const;
const EVENTS = ['pull_request', 'pull_request_review', 'push', 'check_run', 'check_suite', 'status'];

export class GitHubApps {
  readonly apps = new Map<number, EmuApp>();
  readonly installations = new Map<number, EmuInstallation>();
  /** Tokens minted per installation (revoked when it is deleted or suspended). */
  readonly #tokens = new Map<number, string[]>();
  #nextId = 1000;
  /** Deliveries sent to Apps' webhooks, for tests. */
  readonly deliveries: { event: string; action: string; status: number }[] = [];

  constructor(private readonly host: AppHost) {}

  /** Registers an App with the public half of its key (a PEM or a KeyObject). */
  registerApp(input: {
    slug: string;
    name?: string;
    owner?: string;
    publicKey: KeyObject | string;
    webhook?: { url: string; secret: string };
  }): EmuApp {
    const app: EmuApp = {
      id: this.#nextId++,
      slug: input.slug,
      name: input.name ?? input.slug,
      owner: input.owner ?? 'octo-org',
      publicKey: typeof input.publicKey === 'string' ? createPublicKey(input.publicKey) : input.publicKey,
      webhook: input.webhook ?? null,
      created_at: this.host.model.now(),
    };
    this.apps.set(app.id, app);
    this.host.model.userId(`${app.slug}[bot]`);
    return app;
  }

  /** Installs an App on an account: on all its repositories, or on the ones named (`owner/name`). */
  install(
    app: EmuApp,
    account: string,
    repositories: 'all' | readonly string[] = 'all',
    limit = INSTALLATION_RATE_LIMIT,
  ) {
    const installation: EmuInstallation = {
      id: this.#nextId++,
      app,
      account,
      repositories: repositories === 'all' ? 'all' : new Set(repositories.map((r) => r.toLowerCase())),
      suspended_at: null,
      created_at: this.host.model.now(),
      budget: { limit },
    };
    this.installations.set(installation.id, installation);
    this.host.model.userId(account);
    // What its tokens may see: GitHub grants an installation token its installation's repositories.
    this.host.model.grants.set(this.#login(installation), (repo) =>
      this.#covers(installation, repo.owner, repo.name),
    );
    return installation;
  }

  /** Uninstalls: its tokens stop working at once, and the App's webhook hears `installation` `deleted`. */
  async uninstall(installation: EmuInstallation): Promise<void> {
    this.installations.delete(installation.id);
    this.#revoke(installation);
    await this.#deliver(installation, 'installation', 'deleted');
  }

  /** Suspends: tokens refused, new ones too (403), and the webhook hears `installation` `suspend`. */
  async suspend(installation: EmuInstallation): Promise<void> {
    installation.suspended_at = this.host.model.now();
    this.#revoke(installation);
    await this.#deliver(installation, 'installation', 'suspend');
  }

  async unsuspend(installation: EmuInstallation): Promise<void> {
    installation.suspended_at = null;
    await this.#deliver(installation, 'installation', 'unsuspend');
  }

  /** Answers an App route, or null when `path` is none of them. */
  answer(
    method: string,
    path: string,
    query: URLSearchParams,
    authorization: string | undefined,
  ): AppAnswer | null {
    const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
    let route: AppAnswer['route'];
    if (method === 'GET' && seg.length === 1 && seg[0] === 'app') route = 'get_app';
    else if (method === 'GET' && seg.length === 2 && seg[0] === 'app' && seg[1] === 'installations')
      route = 'list_installations';
    else if (method === 'GET' && seg.length === 4 && seg[0] === 'repos' && seg[3] === 'installation')
      route = 'get_repo_installation';
    else if (
      method === 'POST' &&
      seg.length === 4 &&
      seg[0] === 'app' &&
      seg[1] === 'installations' &&
      seg[3] === 'access_tokens'
    )
      route = 'create_installation_token';
    else return null;
    const who = this.#authenticate(authorization);
    if (typeof who === 'string') return { route, status: 401, body: error(who, '401') };
    const app = who;
    switch (route) {
      case 'get_app':
        return { route, status: 200, body: this.#integration(app) };
      case 'list_installations': {
        const page = Math.max(1, Number(query.get('page')) || 1);
        const perPage = Math.min(100, Math.max(1, Number(query.get('per_page')) || 30));
        const mine = [...this.installations.values()].filter((i) => i.app === app);
        return {
          route,
          status: 200,
          body: mine.slice((page - 1) * perPage, page * perPage).map((i) => this.#installation(i)),
        };
      }
      case 'get_repo_installation': {
        const [, owner, name] = seg as [string, string, string];
        const repo = this.host.model.repos.get(`${owner}/${name}`.toLowerCase());
        const found = repo
          ? [...this.installations.values()].find(
              (i) => i.app === app && this.#covers(i, repo.owner, repo.name),
            )
          : undefined;
        // A suspended installation is still the repository's installation; only its tokens are refused.
        if (!found) return { route, status: 404, body: error('Not Found', '404') };
        return { route, status: 200, body: this.#installation(found) };
      }
      case 'create_installation_token': {
        const installation = this.installations.get(Number(seg[2]));
        if (!installation || installation.app !== app || !/^\d+$/.test(seg[2]!))
          return { route, status: 404, body: error('Not Found', '404') };
        if (installation.suspended_at)
          return {
            route,
            status: 403,
            body: {
              message: 'This installation has been suspended',
              documentation_url:
                'https://docs.github.com/rest/reference/apps#create-an-installation-access-token-for-an-app',
              status: '403',
            },
          };
        const token = `ghs_${randomBytes(27).toString('base64url').slice(0, 36)}`;
        const expires = new Date(this.host.model.now().getTime() + INSTALLATION_TOKEN_LIFETIME_MS);
        this.host.addInstallationToken(
          token,
          this.#login(installation),
          installation.id,
          installation.budget.limit,
          expires,
        );
        this.#tokens.set(installation.id, [...(this.#tokens.get(installation.id) ?? []), token]);
        return {
          route,
          status: 201,
          body: {
            token,
            expires_at: isoSeconds(expires),
            permissions: PERMISSIONS,
            repository_selection: installation.repositories === 'all' ? 'all' : 'selected',
          },
        };
      }
    }
  }

  /** The App whose JWT this is, or GitHub's words for why it is refused. */
  #authenticate(authorization: string | undefined): EmuApp | string {
    const jwt = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    const parts = jwt?.split('.');
    if (parts?.length !== 3) return JWT_MESSAGES.undecodable;
    const [head, body, signature] = parts as [string, string, string];
    let header: { alg?: unknown };
    let claims: { iat?: unknown; exp?: unknown; iss?: unknown };
    try {
      header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return JWT_MESSAGES.undecodable;
    }
    // `iss` is the App's id (a number, or its digits) or its client id; ours are ids.
    const app = this.apps.get(Number(claims.iss));
    if (header.alg !== 'RS256' || !app) return JWT_MESSAGES.undecodable;
    const genuine = verify(
      'sha256',
      Buffer.from(`${head}.${body}`),
      app.publicKey,
      Buffer.from(signature, 'base64url'),
    );
    if (!genuine) return JWT_MESSAGES.undecodable;
    const now = Math.floor(this.host.model.now().getTime() / 1000);
    if (typeof claims.exp !== 'number' || claims.exp <= now) return JWT_MESSAGES.expired;
    if (claims.exp > now + MAX_JWT_AHEAD_S) return JWT_MESSAGES.tooFar;
    if (typeof claims.iat !== 'number' || !Number.isInteger(claims.iat) || claims.iat > now + IAT_SKEW_S)
      return JWT_MESSAGES.issuedLater;
    return app;
  }

  #covers(installation: EmuInstallation, owner: string, name: string): boolean {
    if (installation.repositories === 'all')
      return owner.toLowerCase() === installation.account.toLowerCase();
    return installation.repositories.has(`${owner}/${name}`.toLowerCase());
  }

  /** The identity the read routes know an installation's tokens by (one per installation: what it may see differs). */
  #login(installation: EmuInstallation): string {
    return `${installation.app.slug}[bot]#${installation.id}`;
  }

  #revoke(installation: EmuInstallation): void {
    for (const token of this.#tokens.get(installation.id) ?? []) this.host.revokeToken(token);
    this.#tokens.delete(installation.id);
  }

  #integration(app: EmuApp) {
    return {
      id: app.id,
      slug: app.slug,
      node_id: Buffer.from(`03:Integration${app.id}`).toString('base64'),
      client_id: `Iv1.${app.id.toString(16).padStart(16, '0')}`,
      owner: this.host.renderer().user(app.owner),
      name: app.name,
      description: null,
      external_url: `${this.host.webUrl}/apps/${app.slug}`,
      html_url: `${this.host.webUrl}/apps/${app.slug}`,
      created_at: app.created_at.toISOString(),
      updated_at: app.created_at.toISOString(),
      permissions: PERMISSIONS,
      events: EVENTS,
      installations_count: [...this.installations.values()].filter((i) => i.app === app).length,
    };
  }

  #installation(installation: EmuInstallation) {
    const api = this.host.apiUrl;
    return {
      id: installation.id,
      account: this.host.renderer().user(installation.account),
      repository_selection: installation.repositories === 'all' ? 'all' : 'selected',
      access_tokens_url: `${api}/app/installations/${installation.id}/access_tokens`,
      repositories_url: `${api}/installation/repositories`,
      html_url: `${this.host.webUrl}/organizations/${installation.account}/settings/installations/${installation.id}`,
      app_id: installation.app.id,
      client_id: `Iv1.${installation.app.id.toString(16).padStart(16, '0')}`,
      target_id: this.host.model.userId(installation.account),
      target_type: 'Organization',
      permissions: PERMISSIONS,
      events: EVENTS,
      created_at: installation.created_at.toISOString(),
      updated_at: installation.created_at.toISOString(),
      single_file_name: null,
      has_multiple_single_files: false,
      single_file_paths: [],
      app_slug: installation.app.slug,
      suspended_by: installation.suspended_at ? this.host.renderer().user(installation.account) : null,
      suspended_at: installation.suspended_at?.toISOString() ?? null,
    };
  }

  /**
   * The App's webhook delivery of an installation event, signed as GitHub signs them
   * (`X-Hub-Signature-256`: HMAC-SHA256 of the body with the App's webhook secret).
   */
  async #deliver(installation: EmuInstallation, event: string, action: string): Promise<void> {
    const hook = installation.app.webhook;
    if (!hook) return;
    const repositories =
      installation.repositories === 'all'
        ? [...this.host.model.repos.values()].filter((r) => this.#covers(installation, r.owner, r.name))
        : [...installation.repositories].flatMap((full) => {
            const repo = this.host.model.repos.get(full);
            return repo ? [repo] : [];
          });
    const body = JSON.stringify({
      action,
      installation: this.#installation(installation),
      ...(action === 'deleted' || action === 'created'
        ? {
            repositories: repositories.map((r) => ({
              id: r.id,
              node_id: Buffer.from(`010:Repository${r.id}`).toString('base64'),
              name: r.name,
              full_name: `${r.owner}/${r.name}`,
              private: r.private,
            })),
          }
        : {}),
      sender: this.host.renderer().user(installation.account),
    });
    const signature = createHmac('sha256', hook.secret).update(body).digest('hex');
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/emulator',
      'x-github-event': event,
      'x-github-delivery': randomUUID(),
      'x-github-hook-installation-target-type': 'integration',
      'x-github-hook-installation-target-id': String(installation.app.id),
      'x-hub-signature-256': `sha256=${signature}`,
    };
    this.#sent.push({ url: hook.url, headers, body, event, action });
    await this.#post(this.#sent.at(-1)!);
  }

  readonly #sent: SentDelivery[] = [];

  /** Sends delivery `index` (of those sent, oldest first) again as it was: GitHub's "Redeliver". */
  async redeliver(index: number): Promise<number> {
    const sent = this.#sent[index];
    if (!sent) throw new Error(`no delivery ${index}`);
    return this.#post(sent);
  }

  async #post(sent: SentDelivery): Promise<number> {
    const response = await fetch(sent.url, { method: 'POST', headers: sent.headers, body: sent.body });
    await response.arrayBuffer().catch(() => undefined);
    this.deliveries.push({ event: sent.event, action: sent.action, status: response.status });
    return response.status;
  }
}

/** A delivery as it was sent, so that it can be sent again. */
interface SentDelivery {
  url: string;
  headers: Record<string, string>;
  body: string;
  event: string;
  action: string;
}

const error = (message: string, status: string) => ({
  message,
  documentation_url: 'https://docs.github.com/rest',
  status,
});

/** GitHub's timestamps: seconds, `Z` (`2016-07-11T22:14:10Z`). */
const isoSeconds = (date: Date) => `${date.toISOString().slice(0, 19)}Z`;
