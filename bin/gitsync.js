#!/usr/bin/env node
// What runs is always what is in src/. The published package has no sources: it runs the
// JavaScript that `npm run build` (run by `prepare` and `prepack`) compiled into dist/, and needs no
// tsx. In a checkout, dist/ is run too when it was built after the last change to the sources
// (`npm ci` builds it), since compiled code starts faster and holds less memory than tsx, whose
// loader runs in a thread of its own (docs/benchmarks.md, "Footprint and start time"); once a
// source is edited, the sources run through tsx until the next build.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const source = join(root, 'src/cli/main.ts');
const compiled = join(root, 'dist/src/cli/main.js');

/** Modification time of `path` in ms, or of the newest file below it; 0 when it is not there. */
function newest(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

/**
 * Whether dist/ holds the sources as they are: the build writes `dist/.built` last, dated when it
 * started, so a source changed during or after the build is newer than it.
 */
function compiledIsCurrent() {
  const built = newest(join(root, 'dist/.built'));
  if (built === 0) return false;
  const inputs = ['src', 'emulator', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs'];
  return inputs.every((input) => newest(join(root, input)) <= built);
}

if (newest(source) === 0 || compiledIsCurrent()) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(source).href);
}
