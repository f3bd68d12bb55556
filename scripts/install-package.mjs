#!/usr/bin/env node
// Installs gitsync as a user gets it: the tarball `npm pack` writes, with its production
// dependencies only, into an empty folder. The Dockerfile runs this, and so do test/deploy.test.ts
// and test/package.test.ts (offline, from the npm cache `npm ci` filled), so the image is built by
// steps the test suite runs.
//
//   node scripts/install-package.mjs <gitsync-x.y.z.tgz> <folder> <package-lock.json>
//
// The folder gets a package.json depending on the tarball and a lock file made from gitsync's own
// (its production packages only), then `npm ci --omit=dev`: the versions installed are the ones
// gitsync is tested with, and an offline install needs no registry index (npm's cache holds
// packages, not the registry's version lists). The tarball is copied into the folder.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Writes package.json and package-lock.json of a project that depends on the tarball only. */
export function writeInstallProject(dir, tarball, lockFile) {
  const lock = JSON.parse(readFileSync(lockFile, 'utf8'));
  const root = lock.packages?.[''];
  if (lock.lockfileVersion !== 3 || !root?.version) throw new Error(`${lockFile}: not an npm lock file v3`);
  const name = basename(tarball);
  copyFileSync(tarball, join(dir, name));
  const dependency = { gitsync: `file:${name}` };
  const packages = { '': { name: 'gitsync-install', dependencies: dependency } };
  packages['node_modules/gitsync'] = {
    version: root.version,
    resolved: `file:${name}`,
    dependencies: root.dependencies,
    bin: root.bin,
    engines: root.engines,
    license: root.license,
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path !== '' && !entry.dev) packages[path] = entry;
  }
  const project = { name: 'gitsync-install', private: true, type: 'module', dependencies: dependency };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(project, null, 2)}\n`);
  writeFileSync(
    join(dir, 'package-lock.json'),
    `${JSON.stringify({ name: 'gitsync-install', lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
  );
}

/** Installs; extra npm arguments (e.g. `--offline`) may come from the environment (`npm_config_offline=true`). */
export function installPackage(tarball, dir, lockFile, stdio = 'inherit') {
  mkdirSync(dir, { recursive: true });
  writeInstallProject(dir, resolve(tarball), resolve(lockFile));
  execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], { cwd: dir, stdio });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [tarball, dir, lockFile] = process.argv.slice(2);
  if (!tarball || !dir || !lockFile) {
    process.stderr.write(
      'usage: node install-package.mjs <gitsync-x.y.z.tgz> <folder> <package-lock.json>\n',
    );
    process.exit(2);
  }
  installPackage(tarball, dir, lockFile);
}
