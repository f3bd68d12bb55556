import { readFileSync } from 'node:fs';

/** The dashboard's files, read once from the package: it works offline, no CDN. */
const read = (name: string) => readFileSync(new URL(`./dashboard/${name}`, import.meta.url), 'utf8');

export const DASHBOARD_ASSETS = {
  html: read('index.html'),
  js: read('dashboard.js'),
  css: read('dashboard.css'),
} as const;
