#!/usr/bin/env node
// What runs is always what is in src/. The published package has no sources: it runs the
// JavaScript that `npm run build` (run by `prepare` and `prepack`) compiled into dist/, and needs no
// tsx. In a checkout, dist/ is run too when it was built after the last change to the sources
// (`npm ci` builds it) from the sources as they are now, since compiled code starts faster and
// holds less memory than tsx, whose loader runs in a thread of its own (docs/benchmarks.md,
// "Footprint and start time"); once a source is edited, the sources run through tsx until the next
// build.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const source = join(root, 'src/cli/main.ts');
const compiled = join(root, 'dist/src/cli/main.js');

/**
 * Whether dist/ holds the sources as they are: the build writes into `dist/.built` (last) the
 * fingerprints of what it compiled (bin/source-state.js); a source changed during or after the
 * build — or copied in with its old times — no longer matches them.
 */
async function compiledIsCurrent() {
  let built;
  try {
    built = JSON.parse(readFileSync(join(root, 'dist/.built'), 'utf8'));
  } catch {
    return false;
  }
  const { sourceContent, sourceStamp } = await import('./source-state.js');
  return built.stamp === sourceStamp(root) || built.content === sourceContent(root);
}

if (!existsSync(source) || (await compiledIsCurrent())) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(source).href);
}
