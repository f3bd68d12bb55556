// After `tsc -p tsconfig.build.json`: the files the compiled code reads at run time beside itself
// (SQL migrations, the dashboard's HTML, CSS and JavaScript), copied to the same places under dist/.
import { cpSync } from 'node:fs';

for (const dir of ['src/store/migrations', 'src/server/dashboard']) {
  cpSync(dir, `dist/${dir}`, { recursive: true });
}
