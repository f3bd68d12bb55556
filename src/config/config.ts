import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_BUDGET_SHARES } from '../core/budget.ts';
import { ConfigError } from '../core/errors.ts';
import { DEFAULT_LIMITS, type Limits } from '../core/limits.ts';
import { trimTrailingSlash } from '../core/origin.ts';
import { DEFAULT_WORKER_SETTINGS, type WorkerSettings } from '../core/schedule.ts';
import { parseAppPrivateKey } from '../providers/github/app.ts';
import { KNOWN_PROVIDER_TYPES, providerType } from '../providers/registry.ts';
import {
  DEFAULT_SERVICE_TOKEN_POLICY,
  type GitHubAppConfig,
  type ProviderConfig,
  SERVICE_TOKEN_POLICIES,
} from '../providers/types.ts';
import { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SERVICE_URL } from './defaults.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AppConfig {
  /** PostgreSQL connection string; undefined → embedded PGlite under `data_dir`. */
  database_url: string | undefined;
  data_dir: string;
  host: string;
  port: number;
  admin_token: string | undefined;
  encryption_key: string | undefined;
  /** GITSYNC_ALLOW_PLAINTEXT_TOKENS: with PostgreSQL and no encryption key, store owners' tokens in clear. */
  allow_plaintext_tokens: boolean;
  log_level: LogLevel;
  providers: ProviderConfig[];
  worker: WorkerSettings;
  limits: Limits;
  /**
   * GITSYNC_ALLOWED_HOSTS: host names the HTTP service answers to (DNS-rebinding guard). Unset:
   * the loopback names when listening on loopback, any name otherwise.
   */
  allowed_hosts: string[] | null;
  /** GITSYNC_METRICS_TOKEN: when set, `/metrics` requires it as a bearer key. */
  metrics_token: string | undefined;
}

const httpUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      const web = u.protocol === 'http:' || u.protocol === 'https:';
      return web && u.search === '' && u.hash === '' && u.username === '' && u.password === '';
    } catch {
      return false;
    }
    // Credentials in a URL would be copied into every stored origin and PR URL, and into errors.
  }, 'must be an http(s) URL without credentials, query or fragment (tokens go in token_env)')
  .transform(trimTrailingSlash);

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

/** A GitHub id given as a number or a numeric string (`"12345"`, as GitHub's settings page shows it). */
const githubId = z
  .union([z.number().int().positive(), z.string().regex(/^[1-9][0-9]{0,18}$/)])
  .refine((v) => Number.isSafeInteger(Number(v)), 'must be a positive integer')
  .transform(String);

/** A share of a token's budget: more than nothing, at most all of it. */
const budgetShare = z.number().gt(0).max(1);

// Every key says what it means (`.meta`): docs/configuration.md is written from these texts
// (`npm run docs:config`, scripts/config-docs.ts), and a test fails when it differs.
const providerSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, - or _')
    .meta({
      description:
        'Names this code host in the API (`PUT /api/v1/owners/{owner_id}/tokens/{provider_id}`, `POST /api/v1/webhooks/{provider_id}`) and in events; unique in the file.',
    }),
  type: z
    .string()
    .refine((t) => KNOWN_PROVIDER_TYPES.includes(t), {
      message: `must be one of ${KNOWN_PROVIDER_TYPES.join(', ')}`,
    })
    .meta({
      description: `Which code host it is: ${KNOWN_PROVIDER_TYPES.map((t) => `\`${t}\``).join(', ')}.`,
    }),
  web_url: httpUrl.meta({
    description:
      "The host's web address as it appears in git remotes and PR links (`https://github.com`, `https://host/gitlab`); no credentials, query or fragment.",
  }),
  api_url: httpUrl.optional().meta({
    description:
      "The host's API base, when it is not where the type expects it from `web_url` (see the provider types below).",
  }),
  token_env: envName.optional().meta({
    description:
      'The environment variable holding the service token, which serves owners that have linked no token of their own (as far as `service_token_for` allows).',
    default: "the type's (see the provider types below)",
  }),
  webhook_secret_env: envName.optional().meta({
    description:
      "The environment variable holding the secret this host's webhook deliveries are verified with (docs/api.md, webhooks).",
    default: "unset: this host's webhook deliveries are refused (404)",
  }),
  service_token_for: z.enum(SERVICE_TOKEN_POLICIES).optional().meta({
    description:
      "Whose refs the service token reads: `none` — no one's (owners without a token of their own get \"no token\"); `public` — only repositories the host confirms public (on GitHub `GET /repos/{owner}/{repo}` answering `private: false`; anything else counts as not public and nothing of it is read with the service token); `all` — every owner's, which lends the service token's access to private repositories to everyone. Answers are remembered in memory (public: an hour; not public: ten minutes).",
    default: DEFAULT_SERVICE_TOKEN_POLICY,
  }),
  max_budget_share: z
    .union([
      budgetShare,
      z.strictObject({
        owner: budgetShare.optional().meta({
          description:
            'Of an owner\'s own token, which their `gh`, IDE and CI share too (docs/operations.md, "The owner\'s budget").',
          default: DEFAULT_BUDGET_SHARES.owner,
        }),
        service: budgetShare.optional().meta({
          description: "Of the service token's.",
          default: DEFAULT_BUDGET_SHARES.service,
        }),
        service_per_owner: budgetShare.optional().meta({
          description:
            "The most of the service token's budget one owner's refs may spend per window; past it that owner's refs wait for the reset while other owners' go on.",
          default: DEFAULT_BUDGET_SHARES.service_per_owner,
        }),
      }),
    ])
    .optional()
    .meta({
      description:
        "The share of a token's rate-limit budget gitsync may spend: a number (more than 0, at most 1) sets `owner` and `service` alike, or an object sets them apart. Past its pace gitsync spaces next checks out; with only the owner's part left it waits for the reset.",
    }),
  app_id: githubId.optional().meta({
    description:
      '`github` only: the id of a GitHub App (a number or a numeric string) whose installation tokens serve owners without a token of their own, as the service token does and under the same `service_token_for` (docs/github.md, "A GitHub App"). Needs `app_private_key_env`.',
  }),
  app_private_key_env: envName.optional().meta({
    description:
      "`github` only: the environment variable holding the App's private key (PEM; `\\n` escapes are read as line breaks). Read and checked at start: a missing or malformed key stops the start.",
  }),
  installation_id: githubId.optional().meta({
    description:
      "`github` only: serve every repository through this installation of the App instead of asking each repository's (`GET /repos/{owner}/{repo}/installation`).",
    default: "unset: each repository's own installation",
  }),
});

type ProviderEntry = z.infer<typeof providerSchema>;

/**
 * A provider's App, its private key read from the environment and parsed now, so that a missing
 * or malformed key stops the start with an error naming the setting (never the key's text).
 */
function appOf(
  p: ProviderEntry,
  index: number,
  source: string,
  env: NodeJS.ProcessEnv,
): GitHubAppConfig | undefined {
  const where = `${source}: providers[${index}] (${p.id})`;
  if (p.app_id === undefined && p.app_private_key_env === undefined && p.installation_id === undefined)
    return undefined;
  if (p.type !== 'github')
    throw new ConfigError(
      `${where}: app_id, app_private_key_env and installation_id are for github providers only`,
    );
  if (p.app_id === undefined)
    throw new ConfigError(`${where}: app_private_key_env and installation_id need app_id`);
  if (p.app_private_key_env === undefined)
    throw new ConfigError(
      `${where}: app_id needs app_private_key_env (the variable holding the App's private key)`,
    );
  const pem = env[p.app_private_key_env];
  if (!pem) throw new ConfigError(`${where}: app_private_key_env: ${p.app_private_key_env} is not set`);
  return {
    app_id: p.app_id,
    private_key: parseAppPrivateKey(pem, `${where}: app_private_key_env: ${p.app_private_key_env}`),
    installation_id: p.installation_id === undefined ? undefined : Number(p.installation_id),
  };
}

const ms = z.number().int().min(0);
const positive = z.number().int().min(1);
const workerSchema = z.strictObject({
  enabled: z
    .boolean()
    .optional()
    .meta({ description: 'Run the sync worker in this process (`false`: serve the API only).' }),
  tick_interval_ms: positive.optional().meta({
    description:
      'The wait between ticks once the worker has caught up (less while refs keep coming due fast: about the time `max_batch_size` of them take).',
  }),
  batch_size: positive
    .max(100_000)
    .optional()
    .meta({ description: 'Due refs claimed a tick, to begin with.' }),
  max_batch_size: positive.max(100_000).optional().meta({
    description:
      'While claims come back full (a backlog is due) each tick may claim twice as many as the last, up to this many; `batch_size` or less keeps claims fixed.',
  }),
  tick_timeout_ms: positive.optional().meta({
    description: "A tick's deadline for its code-host calls: rows not started by then are due again at once.",
  }),
  concurrency: positive
    .max(10_000)
    .optional()
    .meta({ description: 'Code-host calls in flight at once (ticks never overlap).' }),
  fresh_ttl_ms: ms.optional().meta({ description: 'How often an open PR is checked.' }),
  lease_ms: positive.optional().meta({
    description:
      "How long a claimed ref stays this replica's; if the replica dies, another one takes the ref once the lease runs out.",
  }),
  error_backoff_ms: ms.optional().meta({
    description:
      'The first wait after an error; it doubles with each failure in a row, up to `max_error_backoff_ms` (a success or a new report ends it).',
  }),
  no_token_backoff_ms: ms.optional().meta({
    description: 'The wait of a ref whose owner has no usable token (none linked, or refused by the host).',
  }),
  no_pr_backoff_ms: ms.optional().meta({
    description:
      'How often a branch without a PR yet is asked again while it was reported less than `no_pr_window_ms` ago.',
  }),
  no_pr_window_ms: ms.optional().meta({
    description:
      'How long after a report a branch without a PR is asked every `no_pr_backoff_ms`; afterwards it is asked again when its claim lease (`lease_ms`) runs out.',
  }),
  settled_ttl_ms: ms
    .optional()
    .meta({ description: 'How often merged and closed PRs are checked (they rarely change).' }),
  quiet_after_ms: ms.optional().meta({ description: 'An open PR unchanged this long counts as quiet…' }),
  quiet_ttl_ms: ms.optional().meta({
    description:
      '…and is checked this often until it changes again (a report or webhook brings any ref forward at once).',
  }),
  merge_unknown_ttl_ms: ms.optional().meta({
    description:
      'An open PR whose mergeability the host is still computing (`merge_state` `unknown`, normal right after a push) is asked again this soon.',
  }),
  misconfigured_backoff_ms: ms.optional().meta({
    description:
      'How long a ref no provider can serve (unknown or unsupported host) waits before it is tried again (a new report revives it at once).',
  }),
  max_error_backoff_ms: ms
    .optional()
    .meta({ description: 'The longest wait of a ref that keeps failing (a 422, repeated 5xx).' }),
  refresh_now_per_minute: z.number().int().min(0).max(1_000_000).optional().meta({
    description:
      '"Refresh now" (`POST /api/v1/chats/{id}/diff-status/refresh`) calls per chat owner, on each replica: a burst of that many, then one every 60/N seconds; beyond it 429 `rate_limited` with `Retry-After`, and the host is not asked. Every caller spends the chat owner\'s allowance, the admin key included. `0` turns asking the host now off (refresh and feedback answer 429; the worker\'s schedule still reads the host).',
  }),
});

const limitsSchema = z.strictObject({
  requests_per_second: positive
    .optional()
    .meta({ description: 'Sustained requests per second per API key (the admin key included).' }),
  request_burst: positive
    .optional()
    .meta({ description: 'Requests one key may send at once above `requests_per_second`.' }),
  streams_per_key: positive
    .max(10_000)
    .optional()
    .meta({ description: 'Open event streams and waits per key, on each replica.' }),
  // At most 256 MiB: one key's replays held in memory together (docs/operations.md, limits).
  replay_max_bytes: positive
    .max(256 * 1024 * 1024)
    .optional()
    .meta({
      description:
        "Bytes the `Last-Event-ID` replays of one key's streams hold together (read page by page as each client drains); a larger replay is answered with `event: reset`. At most 256 MiB.",
    }),
  chats_per_owner: positive.optional().meta({ description: 'Chats one owner may have.' }),
  refs_per_chat: positive
    .optional()
    .meta({ description: 'Tracked refs (origin + branch) one chat may have.' }),
  refs_per_owner: positive.optional().meta({
    description: 'Tracked refs one owner may have over all their chats (the worker refreshes them all).',
  }),
  chat_depth: positive
    .max(1_000)
    .optional()
    .meta({ description: 'How deep sub-agent chats may nest (a root chat is depth 1).' }),
  children_per_chat: positive.optional().meta({ description: 'Direct children one chat may have.' }),
  descendants_per_root: positive
    .optional()
    .meta({ description: 'Chats one tree may hold below its root (every level together).' }),
  workspace_report_chats: positive
    .optional()
    .meta({ description: 'Chats one workspace ref report may reach.' }),
  concurrent_webhook_uploads: positive.max(10_000).optional().meta({
    description:
      'Webhook deliveries received at once, for each provider apart; when all are taken, the oldest one that has not proven its signature is cut for a newcomer.',
  }),
  webhook_uploads_per_client: positive.max(10_000).optional().meta({
    description: "Of a provider's slots, how many deliveries not proven yet one client address may hold.",
  }),
  webhook_upload_timeout_ms: positive
    .optional()
    .meta({ description: "A webhook delivery's body must arrive within this time (else 408)." }),
  webhook_min_bytes_per_second: positive.optional().meta({
    description: 'After its first second, a webhook upload slower than this on average is cut (408).',
  }),
});

export const fileSchema = z.strictObject({
  providers: z.array(providerSchema).optional().meta({
    description:
      'The code hosts, each a provider of a type; an origin belongs to the provider whose `web_url` it is under (the longest path first).',
    default: "github.com and gitlab.com, with their types' default tokens",
  }),
  worker: workerSchema.optional().meta({ description: "The sync worker's timing." }),
  limits: limitsSchema.optional().meta({
    description:
      'What one key or one owner may use, so that no caller can exhaust the service for the others. Past a limit the answer says which (429 with `Retry-After` for rates and quotas, 400 or 409 for shapes), and nothing is changed.',
  }),
});

/** An environment variable's setting: env values are strings, checked where they are read. */
const setting = (description: string, fallback: string) =>
  z.string().optional().meta({ description, default: fallback });

/**
 * The environment variables `gitsync serve`, `migrate` and `loadConfig` read (besides those the
 * providers' `*_env` keys name); `loadConfig` reads them through this schema. A secret's `_FILE` form names a file holding it (as
 * container secrets are mounted); setting both forms is an error.
 */
export const envSchema = z.object({
  GITSYNC_CONFIG: setting('Path to the JSON configuration file (the file keys below).', 'none'),
  GITSYNC_DATABASE_URL: setting(
    'PostgreSQL connection string (`postgres://…` or `postgresql://…`). Several replicas share one database.',
    'unset: the embedded database (PGlite) under `GITSYNC_DATA_DIR`',
  ),
  GITSYNC_DATABASE_URL_FILE: setting(
    'A file holding `GITSYNC_DATABASE_URL` (it carries the password).',
    'none',
  ),
  GITSYNC_DATA_DIR: setting(
    'Where the embedded database (folder `pglite`, private to its user and locked against a second process), its token key (`encryption-key`) and a generated admin key (`admin-key`) live.',
    `\`${DEFAULT_DATA_DIR}\` (in the working directory)`,
  ),
  GITSYNC_HOST: setting(
    'The address the service listens on (`0.0.0.0` for every interface, as in a container).',
    `\`${DEFAULT_HOST}\``,
  ),
  GITSYNC_PORT: setting('The port the service listens on (`0`: any free one).', `\`${DEFAULT_PORT}\``),
  GITSYNC_ADMIN_TOKEN: setting(
    'The admin API key (at least 16 characters); when set, an admin key generated earlier is deleted at start.',
    'generated at first start (printed once in a terminal, else written to `<GITSYNC_DATA_DIR>/admin-key`)',
  ),
  GITSYNC_ADMIN_TOKEN_FILE: setting('A file holding `GITSYNC_ADMIN_TOKEN`.', 'none'),
  GITSYNC_ENCRYPTION_KEY: setting(
    "32-byte key (64 hex characters or base64) sealing owners' stored tokens (AES-256-GCM, bound to owner and provider).",
    "embedded database: generated into `<GITSYNC_DATA_DIR>/encryption-key` at first start (to move to PostgreSQL, set this to that file's content); PostgreSQL: storing tokens is refused",
  ),
  GITSYNC_ENCRYPTION_KEY_FILE: setting('A file holding `GITSYNC_ENCRYPTION_KEY`.', 'none'),
  GITSYNC_ALLOW_PLAINTEXT_TOKENS: setting(
    "`1`: with PostgreSQL and no encryption key, store owners' tokens unencrypted anyway (a warning says so at start).",
    '`0`',
  ),
  GITSYNC_LOG_LEVEL: setting(`One of ${LOG_LEVELS.map((l) => `\`${l}\``).join(', ')}.`, '`info`'),
  GITSYNC_ALLOWED_HOSTS: setting(
    'Comma-separated host names the HTTP service answers to (others get 421: a guard against DNS rebinding); `*` for any.',
    'the loopback names when `GITSYNC_HOST` is loopback, else any',
  ),
  GITSYNC_METRICS_TOKEN: setting(
    'When set, `GET /metrics` requires it as a bearer key.',
    '`/metrics` open; budgets labelled by token fingerprint only for scrapes from loopback',
  ),
  GITSYNC_METRICS_TOKEN_FILE: setting('A file holding `GITSYNC_METRICS_TOKEN`.', 'none'),
});

/** The environment variables of the commands that call a running service (`report`, `status`, `token`, `mcp`, `healthcheck`, `hook`). */
export const cliEnvSchema = z.object({
  GITSYNC_URL: setting(
    'The service to call (also `--url`). `gitsync healthcheck` without either asks `GITSYNC_HOST`:`GITSYNC_PORT` (a wildcard host as loopback).',
    `\`${DEFAULT_SERVICE_URL}\``,
  ),
  GITSYNC_API_KEY: setting(
    'The API key the command calls with (never a flag: other local users can read process arguments).',
    'none',
  ),
  GITSYNC_CHAT_ID: setting(
    '`gitsync report`: the chat that pushed (also `--chat`, git config `gitsync.chat`).',
    'none',
  ),
  GITSYNC_WORKSPACE_ID: setting(
    '`gitsync report`: the workspace that pushed, for every chat in it (also `--workspace`).',
    'none',
  ),
  GITSYNC_OWNER_ID: setting(
    '`gitsync report --workspace` with the admin key: whose chats (also `--owner`).',
    'none',
  ),
});

type EnvSettings = z.infer<typeof envSchema>;

export type ConfigFile = z.infer<typeof fileSchema>;

/** Without a configuration file: github.com and gitlab.com, with their types' default tokens. */
const DEFAULT_PROVIDERS: ConfigFile['providers'] = [
  { id: 'github', type: 'github', web_url: 'https://github.com' },
  { id: 'gitlab', type: 'gitlab', web_url: 'https://gitlab.com' },
];

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      const where = path.replace(/^\./, '') || '(top level)';
      if (issue.code === 'unrecognized_keys') return `${where}: unknown key(s) ${issue.keys.join(', ')}`;
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}

/** Parses a config file's JSON text. Errors name the file and the key to fix. */
export function parseConfigFile(text: string, source: string): ConfigFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${source}: not valid JSON (${(cause as Error).message})`, { cause });
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(`${source}: ${describeIssues(parsed.error)}`);
  const ids = new Set<string>();
  for (const p of parsed.data.providers ?? []) {
    if (ids.has(p.id)) throw new ConfigError(`${source}: providers: duplicate id ${p.id}`);
    ids.add(p.id);
  }
  return parsed.data;
}

function intFromEnv(env: EnvSettings, name: keyof EnvSettings, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

type SecretName =
  | 'GITSYNC_DATABASE_URL'
  | 'GITSYNC_ADMIN_TOKEN'
  | 'GITSYNC_ENCRYPTION_KEY'
  | 'GITSYNC_METRICS_TOKEN';

/**
 * A secret from its variable or from the file its `_FILE` variable names (a container secret, so
 * the value is in no process's environment). Trailing line breaks are dropped, as editors and
 * `echo` add them. Errors name the variable and the file, never the content.
 */
function secretFromEnv(env: EnvSettings, name: SecretName): string | undefined {
  const direct = env[name] || undefined;
  const path = env[`${name}_FILE`] || undefined;
  if (path === undefined) return direct;
  if (direct !== undefined) throw new ConfigError(`set ${name} or ${name}_FILE, not both`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      `${name}_FILE: cannot read ${path} (${(cause as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause },
    );
  }
  const value = text.replace(/[\r\n]+$/, '');
  if (value === '') throw new ConfigError(`${name}_FILE: ${path} is empty`);
  if (/[\r\n]/.test(value)) throw new ConfigError(`${name}_FILE: ${path} holds more than one line`);
  return value;
}

/** `1`/`true` or `0`/`false` (unset and empty are false); anything else names the variable. */
function flagFromEnv(env: EnvSettings, name: keyof EnvSettings): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  if (raw === '1' || raw === 'true') return true;
  if (raw === '' || raw === '0' || raw === 'false') return false;
  throw new ConfigError(`${name} must be 1 or 0, got ${JSON.stringify(env[name])}`);
}

/** Reads the environment (and the file named by GITSYNC_CONFIG); every error names the setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const settings = envSchema.parse(env);
  let file: ConfigFile = {};
  const path = settings.GITSYNC_CONFIG;
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (cause) {
      throw new ConfigError(
        `GITSYNC_CONFIG: cannot read ${path} (${(cause as NodeJS.ErrnoException).code ?? 'error'})`,
        { cause },
      );
    }
    file = parseConfigFile(text, `GITSYNC_CONFIG (${path})`);
  }
  const logLevel = settings.GITSYNC_LOG_LEVEL || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(
      `GITSYNC_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`,
    );
  }
  const databaseUrl = secretFromEnv(settings, 'GITSYNC_DATABASE_URL');
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('GITSYNC_DATABASE_URL must be a postgres:// or postgresql:// connection string');
  }
  const adminToken = secretFromEnv(settings, 'GITSYNC_ADMIN_TOKEN');
  if (adminToken !== undefined && adminToken.length < 16) {
    throw new ConfigError('GITSYNC_ADMIN_TOKEN must be at least 16 characters');
  }
  const providers = (file.providers ?? DEFAULT_PROVIDERS ?? []).map(
    (p, index): ProviderConfig => ({
      id: p.id,
      type: p.type,
      web_url: p.web_url,
      api_url: p.api_url ?? providerType(p.type).defaultApiUrl(p.web_url),
      service_token: env[p.token_env ?? providerType(p.type).tokenEnv] || undefined,
      service_token_for: p.service_token_for ?? DEFAULT_SERVICE_TOKEN_POLICY,
      max_budget_share:
        typeof p.max_budget_share === 'number'
          ? {
              ...DEFAULT_BUDGET_SHARES,
              owner: p.max_budget_share,
              service: p.max_budget_share,
            }
          : { ...DEFAULT_BUDGET_SHARES, ...p.max_budget_share },
      webhook_secret: p.webhook_secret_env ? env[p.webhook_secret_env] || undefined : undefined,
      app: appOf(p, index, path ? `GITSYNC_CONFIG (${path})` : 'providers', env),
    }),
  );
  const worker: WorkerSettings = { ...DEFAULT_WORKER_SETTINGS };
  for (const [key, value] of Object.entries(file.worker ?? {})) {
    if (value !== undefined) (worker as unknown as Record<string, unknown>)[key] = value;
  }
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(file.limits ?? {})) {
    if (value !== undefined) (limits as unknown as Record<string, unknown>)[key] = value;
  }
  return {
    database_url: databaseUrl,
    data_dir: settings.GITSYNC_DATA_DIR || DEFAULT_DATA_DIR,
    host: settings.GITSYNC_HOST || DEFAULT_HOST,
    port: intFromEnv(settings, 'GITSYNC_PORT', 0, 65_535) ?? DEFAULT_PORT,
    admin_token: adminToken,
    encryption_key: secretFromEnv(settings, 'GITSYNC_ENCRYPTION_KEY'),
    allow_plaintext_tokens: flagFromEnv(settings, 'GITSYNC_ALLOW_PLAINTEXT_TOKENS'),
    log_level: logLevel as LogLevel,
    providers,
    worker,
    limits,
    allowed_hosts: allowedHosts(settings.GITSYNC_ALLOWED_HOSTS, settings.GITSYNC_HOST || DEFAULT_HOST),
    metrics_token: secretFromEnv(settings, 'GITSYNC_METRICS_TOKEN'),
  };
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

function allowedHosts(setting: string | undefined, listenHost: string): string[] | null {
  if (setting) {
    const names = setting
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== '');
    if (names.includes('*')) return null;
    if (names.some((h) => !/^[a-z0-9.:_-]+$/.test(h)))
      throw new ConfigError('GITSYNC_ALLOWED_HOSTS must be a comma-separated list of host names (or *)');
    return names;
  }
  const loopback = LOOPBACK_NAMES.includes(listenHost.toLowerCase()) || /^127\./.test(listenHost);
  return loopback ? LOOPBACK_NAMES : null;
}
