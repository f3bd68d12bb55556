import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sourceContent } from '../../bin/source-state.js';

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const INSTALL_SCRIPT = join(ROOT, 'scripts', 'install-package.mjs');

/** Everything else `npm pack`'s tarball is made from, besides the build's inputs. */
const PACKED_INPUTS = ['package.json', 'package-lock.json', 'bin', 'docs', 'README.md'];

function fingerprint(): string {
  const hash = createHash('sha256').update(sourceContent(ROOT));
  const visit = (rel: string) => {
    const path = join(ROOT, rel);
    if (!existsSync(path)) return;
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) visit(`${rel}/${name}`);
    } else {
      hash.update(`${rel}\0`).update(readFileSync(path));
    }
  };
  for (const input of PACKED_INPUTS) visit(input);
  return hash.digest('hex').slice(0, 16);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * The tarball `npm pack` makes of this checkout as it is. Packing builds dist/ in the checkout, so
 * two test files packing at once would build over each other: one packs at a time (a lock folder
 * beside the cache), and a tarball packed from the same inputs is reused, also by later runs.
 */
export async function packedTarball(): Promise<string> {
  const cache = join(
    tmpdir(),
    `gitsync-pack-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}`,
  );
  mkdirSync(cache, { recursive: true });
  const lock = join(cache, 'lock');
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let holder = 0;
      try {
        holder = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // Taken a moment ago; its pid is being written.
      }
      if (holder > 0 && !alive(holder)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`${lock}: held by process ${holder} for 5 minutes`);
      else await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    const key = fingerprint();
    const folder = join(cache, key);
    const packed = existsSync(folder) ? readdirSync(folder).find((f) => f.endsWith('.tgz')) : undefined;
    if (packed) return join(folder, packed);
    for (const old of readdirSync(cache))
      if (old !== 'lock') rmSync(join(cache, old), { recursive: true, force: true });
    const draft = `${folder}.draft`;
    mkdirSync(draft, { recursive: true });
    await run('npm', ['pack', '--pack-destination', draft, '--silent'], { cwd: ROOT });
    // The tarball is from the inputs as they were when packing began only if nothing changed meanwhile.
    if (fingerprint() === key) {
      rmSync(folder, { recursive: true, force: true });
      renameSync(draft, folder);
    }
    const dir = existsSync(folder) ? folder : draft;
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack wrote no tarball into ${dir}`);
    return join(dir, tarball);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Installs the tarball into `dir` with its production dependencies only, by the script the
 * Dockerfile runs, offline from the npm cache `npm ci` filled (so no network is needed).
 */
export async function installPacked(tarball: string, dir: string): Promise<void> {
  await run(process.execPath, [INSTALL_SCRIPT, tarball, dir, join(ROOT, 'package-lock.json')], {
    env: { ...process.env, npm_config_offline: 'true' },
  });
}
