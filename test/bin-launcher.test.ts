import { execFile } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * `bin/gitsync.js` in a checkout runs dist/ when the build is newer than every source, else the
 * sources through tsx; the published package (no sources) always runs dist/. Tried on a copy of
 * the launcher beside stand-in entry points that say which of them ran.
 */
describe('bin/gitsync.js chooses what to run', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  /** A checkout whose files all date from second 1000, dist/.built from `built` (null: none). */
  function checkout(built: number | null) {
    const root = mkdtempSync(join(tmpdir(), 'gitsync-bin-'));
    roots.push(root);
    mkdirSync(join(root, 'bin'));
    copyFileSync(join(ROOT, 'bin', 'gitsync.js'), join(root, 'bin', 'gitsync.js'));
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
    writeFileSync(join(root, 'package.json'), '{"type": "module"}\n');
    mkdirSync(join(root, 'src', 'cli'), { recursive: true });
    mkdirSync(join(root, 'emulator'));
    mkdirSync(join(root, 'dist', 'src', 'cli'), { recursive: true });
    // Only tsx can run this one (a TypeScript operator).
    writeFileSync(join(root, 'src', 'cli', 'main.ts'), 'process.stdout.write("sources" satisfies string);\n');
    writeFileSync(join(root, 'emulator', 'server.ts'), '');
    writeFileSync(join(root, 'dist', 'src', 'cli', 'main.js'), 'process.stdout.write("compiled");\n');
    const at = (path: string, seconds: number) => utimesSync(join(root, path), seconds, seconds);
    for (const path of ['src/cli/main.ts', 'src/cli', 'src', 'emulator/server.ts', 'emulator'])
      at(path, 1000);
    if (built !== null) {
      writeFileSync(join(root, 'dist', '.built'), '');
      at('dist/.built', built);
    }
    const ran = async () => (await run(process.execPath, [join(root, 'bin', 'gitsync.js')])).stdout.trim();
    return { root, at, ran };
  }

  it('runs dist/ when it was built after the last change to the sources', async () => {
    expect(await checkout(2000).ran()).toBe('compiled');
  });

  it('runs the sources through tsx once one of them changed after the build', async () => {
    const edited = checkout(2000);
    edited.at('emulator/server.ts', 3000);
    expect(await edited.ran()).toBe('sources');
    const removed = checkout(2000);
    removed.at('src/cli', 3000); // a source deleted or added changes its folder
    expect(await removed.ran()).toBe('sources');
  });

  it('runs the sources when dist/ was not (completely) built', async () => {
    expect(await checkout(null).ran()).toBe('sources');
  });

  it('runs dist/ in the published package, which has no sources', async () => {
    const installed = checkout(500);
    rmSync(join(installed.root, 'src'), { recursive: true });
    expect(await installed.ran()).toBe('compiled');
  });
});
