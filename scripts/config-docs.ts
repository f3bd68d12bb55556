// `npm run docs:config`: writes docs/configuration.md from the configuration schema in
// src/config/config.ts — every environment variable and file key, its type, default and meaning —
// so the reference cannot drift from what gitsync reads. src/config/config-docs.test.ts fails when
// the committed file differs from what this writes. Edit the texts in the schema, not the file.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { cliEnvSchema, envSchema, fileSchema } from '../src/config/config.ts';
import { DEFAULT_LIMITS } from '../src/core/limits.ts';
import { DEFAULT_WORKER_SETTINGS } from '../src/core/schedule.ts';
import { PROVIDER_TYPES } from '../src/providers/registry.ts';

export const CONFIGURATION_DOC = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));

/** The part of JSON Schema this reads. */
interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
}

/** Web addresses to show each type's `api_url` default for (any other type gets a generic one). */
const SAMPLE_WEB_URLS: Record<string, string[]> = {
  github: ['https://github.com', 'https://octo.ghe.com', 'https://github.example.com'],
  gitlab: ['https://gitlab.com', 'https://code.example.com/gitlab'],
  bitbucket: ['https://bitbucket.org'],
  'azure-devops': ['https://dev.azure.com'],
};

/** A table cell: one line, pipes escaped. */
const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function describedText(name: string, schema: JsonSchema): string {
  if (!schema.description) throw new Error(`${name} has no description in src/config/config.ts`);
  return schema.description;
}

/** `integer 1 … 100000`, `string (environment variable name)`, `"none" | "public" | "all"`, … */
function typeText(schema: JsonSchema): string {
  if (schema.anyOf) return schema.anyOf.map(typeText).join(', or ');
  if (schema.enum) return schema.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' | ');
  if (schema.type === 'object') return 'object (below)';
  if (schema.type === 'array') return `array of ${schema.items ? typeText(schema.items) : 'values'}`;
  // zod's integers carry JavaScript's safe-integer bounds, which say nothing here.
  const max =
    schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER ? schema.maximum : undefined;
  const min =
    schema.minimum !== undefined && schema.minimum > Number.MIN_SAFE_INTEGER ? schema.minimum : undefined;
  const low =
    schema.exclusiveMinimum !== undefined
      ? `> ${schema.exclusiveMinimum}`
      : min !== undefined
        ? `${min}`
        : undefined;
  const range =
    low !== undefined && max !== undefined
      ? ` ${low} … ${number(max)}`
      : low !== undefined
        ? low.startsWith('>')
          ? ` ${low}`
          : ` ≥ ${low}`
        : max !== undefined
          ? ` ≤ ${number(max)}`
          : '';
  return `${schema.type ?? 'any'}${range}`;
}

const number = (n: number) => (Number.isInteger(n) && n >= 10_000 ? n.toLocaleString('en-US') : String(n));

/** A file key's default: a value as JSON, or a sentence (a string with spaces or backticks) as it is. */
function defaultText(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string' && /[`\s]/.test(value)) return value;
  return `\`${JSON.stringify(value)}\``;
}

function keyTable(schema: JsonSchema, defaults: Record<string, unknown>, prefix = ''): string[] {
  const required = new Set(schema.required ?? []);
  const rows = ['| key | type | default | meaning |', '|---|---|---|---|'];
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    const fallback = required.has(key) ? '(required)' : defaultText(defaults[key] ?? property.default);
    rows.push(
      `| \`${prefix}${key}\` | ${cell(typeText(property))} | ${cell(fallback)} | ${cell(describedText(`${prefix}${key}`, property))} |`,
    );
  }
  return rows;
}

function envTable(schema: z.ZodObject): string[] {
  const json = z.toJSONSchema(schema, { io: 'input' }) as JsonSchema;
  const rows = ['| variable | meaning | default |', '|---|---|---|'];
  for (const [name, property] of Object.entries(json.properties ?? {})) {
    rows.push(
      `| \`${name}\` | ${cell(describedText(name, property))} | ${cell(String(property.default ?? ''))} |`,
    );
  }
  return rows;
}

/** A configuration file with every key at its default, and one provider. */
function exampleFile(): string {
  const example = {
    providers: [
      {
        id: 'github',
        type: 'github',
        web_url: 'https://github.com',
        token_env: PROVIDER_TYPES.github?.tokenEnv,
        webhook_secret_env: 'GITHUB_WEBHOOK_SECRET',
        service_token_for: 'public',
        max_budget_share: { owner: 0.5, service: 0.9, service_per_owner: 0.1 },
      },
    ],
    worker: DEFAULT_WORKER_SETTINGS,
    limits: DEFAULT_LIMITS,
  };
  return JSON.stringify(example, null, 2);
}

export function configurationMarkdown(): string {
  const file = z.toJSONSchema(fileSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const section = (key: string) => {
    const property = file.properties?.[key];
    if (!property) throw new Error(`no ${key} in the configuration file schema`);
    // JSON Schema leaves out a default it cannot carry; the schema's own metadata has it.
    const meta = fileSchema.shape[key as keyof typeof fileSchema.shape].meta();
    return { ...property, default: property.default ?? meta?.default };
  };
  const provider = section('providers').items!;
  const share = provider.properties?.max_budget_share?.anyOf?.find((s) => s.type === 'object');
  const lines = [
    '# Configuration',
    '',
    '<!-- Written by `npm run docs:config` from src/config/config.ts; edit the texts there. -->',
    '',
    'gitsync reads environment variables and, when `GITSYNC_CONFIG` names one, a JSON file. Every',
    'setting is optional. A configuration error stops the process with exit code 78 and a message',
    'that names the variable or key to fix; unknown keys in the file are errors that name them.',
    '',
    '## Environment variables',
    '',
    ...envTable(envSchema),
    '',
    'A `_FILE` variable names a file holding the secret (as container secrets are mounted, e.g.',
    '`/run/secrets/…`): one line, a trailing line break is dropped; setting both forms is an error.',
    '',
    '### Commands that call a running service',
    '',
    '`gitsync report`, `hook install`, `status`, `token`, `mcp` and `healthcheck`:',
    '',
    ...envTable(cliEnvSchema),
    '',
    '## The configuration file',
    '',
    'The file named by `GITSYNC_CONFIG`, here with every key at its default:',
    '',
    '```json',
    exampleFile(),
    '```',
    '',
    `### \`providers\``,
    '',
    `${describedText('providers', section('providers'))} Default: ${defaultText(section('providers').default)}.`,
    '',
    ...keyTable(provider, {}),
    '',
    '`max_budget_share` as an object (a number sets `owner` and `service`; `service_per_owner` keeps its default):',
    '',
    ...keyTable(share ?? {}, {}, 'max_budget_share.'),
    '',
    '#### Provider types',
    '',
    "Without `api_url` and `token_env`, a provider takes its type's:",
    '',
    '| `type` | `api_url` for `web_url` | `token_env` |',
    '|---|---|---|',
    ...Object.entries(PROVIDER_TYPES).map(([name, type]) => {
      const samples = SAMPLE_WEB_URLS[name] ?? ['https://code.example.com'];
      const apis = samples.map((web) => `\`${web}\` → \`${type.defaultApiUrl(web)}\``).join('<br>');
      return `| \`${name}\` | ${apis} | \`${type.tokenEnv}\` |`;
    }),
    '',
    '### `worker`',
    '',
    describedText('worker', section('worker')),
    '',
    ...keyTable(section('worker'), DEFAULT_WORKER_SETTINGS as unknown as Record<string, unknown>),
    '',
    '### `limits`',
    '',
    describedText('limits', section('limits')),
    '',
    ...keyTable(section('limits'), DEFAULT_LIMITS as unknown as Record<string, unknown>),
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(CONFIGURATION_DOC, configurationMarkdown());
  process.stdout.write(`wrote ${CONFIGURATION_DOC}\n`);
}
