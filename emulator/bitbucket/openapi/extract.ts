/**
 * Derives `response-schemas.json` from Bitbucket Cloud's published OpenAPI description, keeping
 * only what the emulator's answers are validated against: for each endpoint gitsync reads, the
 * schema `$ref` of each documented JSON answer, and the component schemas those reach — with
 * every `description`, `title` and example removed (structure only: types, properties, enums,
 * formats, `required`, `additionalProperties`, `allOf`, `$ref`).
 *
 * Atlassian publishes the description at https://dac-static.atlassian.com/cloud/bitbucket/swagger.v3.json
 * (OpenAPI 3.0; the 2.0 form at https://api.bitbucket.org/swagger.json) without a stated licence,
 * so the whole file is not kept here. Run again after downloading it:
 *
 *   node --import tsx emulator/bitbucket/openapi/extract.ts /path/to/swagger.v3.json
 */
import { readFileSync, writeFileSync } from 'node:fs';

/** The GET endpoints gitsync reads (or the emulator redirects to), as the description names them. */
export const PATHS = [
  '/repositories/{workspace}/{repo_slug}',
  '/repositories/{workspace}/{repo_slug}/pullrequests',
  '/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}',
  '/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/statuses',
  '/repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments',
  '/repositories/{workspace}/{repo_slug}/commit/{commit}/statuses',
  '/repositories/{workspace}/{repo_slug}/diffstat/{spec}',
  '/repositories/{workspace}/{repo_slug}/file-conflicts/{spec}',
  // "List commits on a pull request" documents no answer schema; the repository's commit list
  // (`paginated_changeset`) describes the same objects.
  '/repositories/{workspace}/{repo_slug}/commits',
  // Who a token acts as, and that user's PRs across a workspace's repositories.
  '/user',
  '/workspaces/{workspace}/pullrequests/{selected_user}',
] as const;

type Json = unknown;
const DROP = new Set(['description', 'title', 'example', 'examples']);

/** The structure of a schema, without prose (property names are kept even when one is `title`). */
function strip(node: Json, inProperties = false): Json {
  if (Array.isArray(node)) return node.map((n) => strip(n));
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(node)) {
    if (!inProperties && DROP.has(k)) continue;
    out[k] = inProperties ? strip(v) : strip(v, k === 'properties');
  }
  return out;
}

function refsIn(node: Json, found: Set<string>): void {
  if (Array.isArray(node)) for (const n of node) refsIn(n, found);
  else if (node && typeof node === 'object')
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') found.add(v.split('/').pop()!);
      else refsIn(v, found);
    }
}

export function extract(spec: {
  paths: Record<
    string,
    { get?: { responses: Record<string, { content?: Record<string, { schema?: Json }> }> } }
  >;
  components: { schemas: Record<string, Json> };
}) {
  const paths: Record<string, Record<string, Json>> = {};
  const wanted = new Set<string>();
  for (const path of PATHS) {
    const responses = spec.paths[path]?.get?.responses;
    if (!responses) throw new Error(`the description has no GET ${path}`);
    paths[path] = {};
    for (const [status, answer] of Object.entries(responses)) {
      const schema = answer.content?.['application/json']?.schema;
      if (!schema) continue;
      paths[path][status] = schema;
      refsIn(schema, wanted);
    }
  }
  const schemas: Record<string, Json> = {};
  const queue = [...wanted];
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (name in schemas) continue;
    const schema = spec.components.schemas[name];
    if (schema === undefined) throw new Error(`the description has no schema ${name}`);
    schemas[name] = strip(schema);
    const more = new Set<string>();
    refsIn(schema, more);
    queue.push(...more);
  }
  return {
    'x-derived-from': 'https://dac-static.atlassian.com/cloud/bitbucket/swagger.v3.json',
    'x-how':
      'emulator/bitbucket/openapi/extract.ts: GET answers of PATHS and the schemas they reach, prose removed',
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))),
    },
  };
}

if (process.argv[1]?.endsWith('extract.ts')) {
  const source = process.argv[2];
  if (!source) throw new Error('usage: extract.ts /path/to/swagger.v3.json');
  const derived = extract(JSON.parse(readFileSync(source, 'utf8')));
  writeFileSync(new URL('./response-schemas.json', import.meta.url), `${JSON.stringify(derived, null, 1)}\n`);
}
