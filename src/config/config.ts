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

const providerSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, - or _'),
  type: z.string().refine((t) => KNOWN_PROVIDER_TYPES.includes(t), {
    message: `must be one of ${KNOWN_PROVIDER_TYPES.join(', ')}`,
  }),
  web_url: httpUrl,
  api_url: httpUrl.optional(),
  token_env: envName.optional(),
  webhook_secret_env: envName.optional(),
  service_token_for: z.enum(SERVICE_TOKEN_POLICIES).optional(),
  /** One share for every token, or owners' and the service token's apart. */
  max_budget_share: z
    .union([
      budgetShare,
      z.strictObject({
        owner: budgetShare.optional(),
        service: budgetShare.optional(),
        /** The most of the service token's budget one owner's refs may spend per window. */
        service_per_owner: budgetShare.optional(),
      }),
    ])
    .optional(),
  /** A GitHub App (SPEC §6.2 "GitHub App"): its id, the variable holding its PEM, an installation. */
  app_id: githubId.optional(),
  app_private_key_env: envName.optional(),
  installation_id: githubId.optional(),
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
  enabled: z.boolean().optional(),
  tick_interval_ms: positive.optional(),
  batch_size: positive.max(100_000).optional(),
  max_batch_size: positive.max(100_000).optional(),
  tick_timeout_ms: positive.optional(),
  concurrency: positive.max(10_000).optional(),
  fresh_ttl_ms: ms.optional(),
  lease_ms: positive.optional(),
  error_backoff_ms: ms.optional(),
  no_token_backoff_ms: ms.optional(),
  no_pr_backoff_ms: ms.optional(),
  no_pr_window_ms: ms.optional(),
  settled_ttl_ms: ms.optional(),
  quiet_after_ms: ms.optional(),
  quiet_ttl_ms: ms.optional(),
  merge_unknown_ttl_ms: ms.optional(),
  misconfigured_backoff_ms: ms.optional(),
  max_error_backoff_ms: ms.optional(),
  refresh_now_per_minute: z.number().int().min(0).max(1_000_000).optional(),
});

const limitsSchema = z.strictObject({
  requests_per_second: positive.optional(),
  request_burst: positive.optional(),
  streams_per_key: positive.max(10_000).optional(),
  // At most 256 MiB: one key's replays held in memory together (docs/operations.md, limits).
  replay_max_bytes: positive.max(256 * 1024 * 1024).optional(),
  chats_per_owner: positive.optional(),
  refs_per_chat: positive.optional(),
  refs_per_owner: positive.optional(),
  chat_depth: positive.max(1_000).optional(),
  children_per_chat: positive.optional(),
  descendants_per_root: positive.optional(),
  workspace_report_chats: positive.optional(),
  concurrent_webhook_uploads: positive.max(10_000).optional(),
  webhook_uploads_per_client: positive.max(10_000).optional(),
  webhook_upload_timeout_ms: positive.optional(),
  webhook_min_bytes_per_second: positive.optional(),
});

const fileSchema = z.strictObject({
  providers: z.array(providerSchema).optional(),
  worker: workerSchema.optional(),
  limits: limitsSchema.optional(),
});

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

function intFromEnv(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

/** `1`/`true` or `0`/`false` (unset and empty are false); anything else names the variable. */
function flagFromEnv(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  if (raw === '1' || raw === 'true') return true;
  if (raw === '' || raw === '0' || raw === 'false') return false;
  throw new ConfigError(`${name} must be 1 or 0, got ${JSON.stringify(env[name])}`);
}

/** Reads the environment (and the file named by GITSYNC_CONFIG); every error names the setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  let file: ConfigFile = {};
  const path = env.GITSYNC_CONFIG;
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
  const logLevel = env.GITSYNC_LOG_LEVEL || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(
      `GITSYNC_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`,
    );
  }
  const databaseUrl = env.GITSYNC_DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('GITSYNC_DATABASE_URL must be a postgres:// or postgresql:// connection string');
  }
  const adminToken = env.GITSYNC_ADMIN_TOKEN || undefined;
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
    data_dir: env.GITSYNC_DATA_DIR || '.gitsync',
    host: env.GITSYNC_HOST || '127.0.0.1',
    port: intFromEnv(env, 'GITSYNC_PORT', 0, 65_535) ?? 7420,
    admin_token: adminToken,
    encryption_key: env.GITSYNC_ENCRYPTION_KEY || undefined,
    allow_plaintext_tokens: flagFromEnv(env, 'GITSYNC_ALLOW_PLAINTEXT_TOKENS'),
    log_level: logLevel as LogLevel,
    providers,
    worker,
    limits,
    allowed_hosts: allowedHosts(env.GITSYNC_ALLOWED_HOSTS, env.GITSYNC_HOST || '127.0.0.1'),
    metrics_token: env.GITSYNC_METRICS_TOKEN || undefined,
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
