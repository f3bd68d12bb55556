// `npm run build` (run by `npm ci`, `prepare` and `prepack`): compiles src/ and emulator/ into
// dist/, copies beside the compiled code the files it reads at run time (SQL migrations, the
// dashboard), and saves the embedded database's initial cluster (src/store/database.ts).
//
// dist/.built is written last and holds the fingerprints of the sources as they were when the
// build began (bin/source-state.js), so bin/gitsync.js can tell whether dist/ holds the sources as
// they are: a source changed during or after the build no longer matches.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { sourceContent, sourceStamp } from '../bin/source-state.js';

mkdirSync('dist', { recursive: true });
rmSync('dist/.built', { force: true });
const inputs = { stamp: sourceStamp('.'), content: sourceContent('.') };
writeFileSync('dist/.building', `${JSON.stringify(inputs)}\n`);

// typescript's main module is lib/typescript.js; its command line is bin/tsc beside lib/.
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript')), '..', 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });

for (const dir of ['src/store/migrations', 'src/server/dashboard']) {
  cpSync(dir, `dist/${dir}`, { recursive: true });
}

const { writeEmbeddedTemplate } = await import('../dist/src/store/database.js');
await writeEmbeddedTemplate();

renameSync('dist/.building', 'dist/.built');
