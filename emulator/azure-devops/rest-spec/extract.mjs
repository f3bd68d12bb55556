// Extracts from Microsoft's Azure DevOps REST specification (MicrosoftDocs/vsts-rest-api-specs,
// MIT) the response schemas of the operations gitsync reads, with every definition they reach,
// into small files this folder keeps. Run from the repository root:
//   node emulator/azure-devops/rest-spec/extract.mjs <checkout of vsts-rest-api-specs>
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [root] = process.argv.slice(2);
if (!root) throw new Error('usage: extract.mjs <vsts-rest-api-specs checkout>');
const here = new URL('.', import.meta.url).pathname;
const REPOS = '/{organization}/{project}/_apis/git/repositories/{repositoryId}';
const PULL = `${REPOS}/pullRequests/{pullRequestId}`;
const WANTED = {
  git: [
    `${REPOS}`,
    `${REPOS}/pullrequests`,
    `${REPOS}/pullrequests/{pullRequestId}`,
    '/{organization}/{project}/_apis/git/pullrequests',
    `${PULL}/iterations`,
    `${PULL}/iterations/{iterationId}/changes`,
    `${PULL}/commits`,
    `${PULL}/reviewers`,
    `${PULL}/statuses`,
    `${PULL}/threads`,
    '/{organization}/{project}/_apis/git/policy/configurations',
  ],
  policy: ['/{organization}/{project}/_apis/policy/evaluations'],
};

for (const [area, paths] of Object.entries(WANTED)) {
  const file = join(root, 'specification', area, '7.1', `${area}.json`);
  // The published files start with a byte order mark.
  const spec = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  const out = {
    source: `specification/${area}/7.1/${area}.json`,
    version: spec.info.version,
    paths: {},
    definitions: {},
  };
  const reach = (node) => {
    if (Array.isArray(node)) return node.forEach(reach);
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/definitions/')) {
        const name = v.slice('#/definitions/'.length);
        if (!(name in out.definitions)) {
          out.definitions[name] = spec.definitions[name];
          reach(spec.definitions[name]);
        }
      } else reach(v);
    }
  };
  for (const path of paths) {
    const op = spec.paths[path]?.get;
    if (!op) throw new Error(`no GET ${path} in ${file}`);
    out.paths[path] = { operationId: op.operationId, schema: op.responses['200'].schema };
    reach(op.responses['200'].schema);
  }
  // Descriptions are the documentation, not the shape: left out to keep the files small.
  const strip = (node) => {
    if (Array.isArray(node)) return node.map(strip);
    if (!node || typeof node !== 'object') return node;
    return Object.fromEntries(
      Object.entries(node)
        .filter(([k]) => k !== 'description' && k !== 'x-ms-enum')
        .map(([k, v]) => [
          k,
          k === 'properties'
            ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, strip(s)]))
            : strip(v),
        ]),
    );
  };
  out.definitions = Object.fromEntries(
    Object.entries(out.definitions)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => [k, strip(v)]),
  );
  writeFileSync(join(here, `${area}.json`), `${JSON.stringify(out, null, 1)}\n`);
  console.log(area, Object.keys(out.definitions).length, 'definitions');
}
