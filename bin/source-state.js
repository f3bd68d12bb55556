// What the build compiled from, so that bin/gitsync.js can tell whether dist/ still holds the
// sources as they are (scripts/build.mjs writes it into dist/.built; the launcher compares).
//
// Two fingerprints of the same inputs: `stamp`, of every file's size, modification and change
// times and inode (stat calls only, about 10 ms for the checkout), and `content`, of every file's
// bytes (about 40 ms). The launcher trusts dist/ when the stamp is unchanged — a change to a file's
// bytes changes its change time, which no copy or `touch` can set back — and otherwise asks the
// content, so a copy that kept the sources' times but not their bytes still runs the sources, and
// a copy or checkout with identical bytes still runs dist/. Links are recorded, never followed.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** The files and folders whose contents the build depends on, relative to the project root. */
export const BUILD_INPUTS = ['src', 'emulator', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs'];

/** Every entry below the inputs (depth first, names sorted), with its lstat; absent inputs are skipped. */
function entries(root) {
  const found = [];
  const visit = (rel) => {
    let stat;
    try {
      stat = lstatSync(join(root, rel));
    } catch {
      return;
    }
    found.push({ rel, stat });
    if (stat.isDirectory()) for (const name of readdirSync(join(root, rel)).sort()) visit(`${rel}/${name}`);
  };
  for (const input of BUILD_INPUTS) visit(input);
  return found;
}

/** The stamp of the inputs as they are now. */
export function sourceStamp(root) {
  const hash = createHash('sha256');
  for (const { rel, stat } of entries(root))
    hash.update(`${rel}\0${stat.mode}\0${stat.size}\0${stat.mtimeMs}\0${stat.ctimeMs}\0${stat.ino}\n`);
  return hash.digest('hex');
}

/** The content fingerprint of the inputs as they are now: names, kinds, bytes and link targets. */
export function sourceContent(root) {
  const hash = createHash('sha256');
  for (const { rel, stat } of entries(root)) {
    if (stat.isSymbolicLink()) hash.update(`link ${rel}\0${readlinkSync(join(root, rel))}\n`);
    else if (stat.isDirectory()) hash.update(`dir ${rel}\n`);
    else if (stat.isFile()) {
      const bytes = readFileSync(join(root, rel));
      hash.update(`file ${rel}\0${bytes.length}\n`);
      hash.update(bytes);
    } else hash.update(`other ${rel}\n`);
  }
  return hash.digest('hex');
}
