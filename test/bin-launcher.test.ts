import { execFile } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
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
 * `bin/gitsync.js` in a checkout runs dist/ while it was built from the sources as they are
 * (fingerprints in dist/.built), else the sources through tsx; the published package (no sources)
 * always runs dist/. Tried on a copy of the launcher beside stand-in entry points that say which
 * of them ran.
 */
describe('bin/gitsync.js chooses what to run', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  /** A checkout with stand-in sources; `built`: dist/.built written by the build as it is now. */
  async function checkout(built: boolean) {
    const root = mkdtempSync(join(tmpdir(), 'gitsync-bin-'));
    roots.push(root);
    mkdirSync(join(root, 'bin'));
    for (const file of ['gitsync.js', 'source-state.js'])
      copyFileSync(join(ROOT, 'bin', file), join(root, 'bin', file));
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
    writeFileSync(join(root, 'package.json'), '{"type": "module"}\n');
    mkdirSync(join(root, 'src', 'cli'), { recursive: true });
    mkdirSync(join(root, 'emulator'));
    mkdirSync(join(root, 'dist', 'src', 'cli'), { recursive: true });
    // Only tsx can run this one (a TypeScript operator).
    writeFileSync(join(root, 'src', 'cli', 'main.ts'), 'process.stdout.write("sources" satisfies string);\n');
    writeFileSync(join(root, 'emulator', 'server.ts'), 'export const version = 1;\n');
    writeFileSync(join(root, 'dist', 'src', 'cli', 'main.js'), 'process.stdout.write("compiled");\n');
    if (built) await build(root);
    const ran = async () => (await run(process.execPath, [join(root, 'bin', 'gitsync.js')])).stdout.trim();
    return { root, ran };
  }

  /** What scripts/build.mjs writes last. */
  async function build(root: string) {
    const { sourceContent, sourceStamp } = await import('../bin/source-state.js');
    writeFileSync(
      join(root, 'dist', '.built'),
      `${JSON.stringify({ stamp: sourceStamp(root), content: sourceContent(root) })}\n`,
    );
  }

  it('runs dist/ when it was built from the sources as they are', async () => {
    expect(await (await checkout(true)).ran()).toBe('compiled');
  });

  it('runs the sources through tsx once one of them changed after the build', async () => {
    const edited = await checkout(true);
    writeFileSync(join(edited.root, 'emulator', 'server.ts'), 'export const version = 2;\n');
    expect(await edited.ran()).toBe('sources');
    const added = await checkout(true);
    writeFileSync(join(added.root, 'src', 'cli', 'new.ts'), '');
    expect(await added.ran()).toBe('sources');
  });

  it('runs the sources after a copy that kept the old times but not the old bytes', async () => {
    const copied = await checkout(true);
    const file = join(copied.root, 'emulator', 'server.ts');
    const { mtime } = statSync(file);
    writeFileSync(file, 'export const version = 3;\n');
    utimesSync(file, mtime, mtime);
    expect(await copied.ran()).toBe('sources');
  });

  it('runs dist/ in a copy of the checkout whose sources have the same bytes', async () => {
    const original = await checkout(true);
    const copy = mkdtempSync(join(tmpdir(), 'gitsync-bin-'));
    roots.push(copy);
    cpSync(original.root, copy, { recursive: true, verbatimSymlinks: true });
    expect((await run(process.execPath, [join(copy, 'bin', 'gitsync.js')])).stdout.trim()).toBe('compiled');
  });

  it('records links among the sources without following them (two links to their folder)', async () => {
    const looped = await checkout(false);
    symlinkSync('.', join(looped.root, 'src', 'a'));
    symlinkSync('.', join(looped.root, 'src', 'b'));
    await build(looped.root);
    expect(await looped.ran()).toBe('compiled');
  });

  it('runs the sources when dist/ was not (completely) built', async () => {
    expect(await (await checkout(false)).ran()).toBe('sources');
  });

  it('runs dist/ in the published package, which has no sources', async () => {
    const installed = await checkout(false);
    rmSync(join(installed.root, 'src'), { recursive: true });
    expect(await installed.ran()).toBe('compiled');
  });
});
