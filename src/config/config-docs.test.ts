import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIGURATION_DOC, configurationMarkdown } from '../../scripts/config-docs.ts';
import { cliEnvSchema, envSchema } from './config.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|js)$/.test(e.name) && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('docs/configuration.md', () => {
  it('is what `npm run docs:config` writes from the schema', () => {
    // On a difference: run `npm run docs:config` and commit docs/configuration.md.
    expect(readFileSync(CONFIGURATION_DOC, 'utf8')).toBe(configurationMarkdown());
  });

  it('names every GITSYNC_ variable the service and the CLI read', () => {
    const documented = new Set([...Object.keys(envSchema.shape), ...Object.keys(cliEnvSchema.shape)]);
    const read = new Set<string>();
    for (const file of [...sources('src'), ...sources('bin')]) {
      for (const [name] of readFileSync(file, 'utf8').matchAll(/\bGITSYNC_[A-Z0-9_]+\b/g)) read.add(name);
    }
    expect(read.size).toBeGreaterThan(10);
    expect([...read].filter((name) => !documented.has(name)).sort()).toEqual([]);
  });
});
