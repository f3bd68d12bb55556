#!/usr/bin/env node
// In a checkout (the TypeScript sources are here) gitsync runs them through tsx, so what runs is
// always what is in src/. The published package has no sources: it runs the JavaScript that
// `npm run build` (run by `prepare` and `prepack`) compiled into dist/, and needs no tsx.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/src/cli/main.js', import.meta.url).href);
}
