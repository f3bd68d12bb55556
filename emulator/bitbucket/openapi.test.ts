import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BitbucketEmulator, startBitbucketEmulator } from './server.ts';

/**
 * Every answer the emulator gives on the endpoints gitsync reads must conform to Bitbucket Cloud's
 * published OpenAPI description (https://dac-static.atlassian.com/cloud/bitbucket/swagger.v3.json),
 * through the schemas derived from it in `openapi/response-schemas.json` (see `openapi/extract.ts`).
 */
type Derived = {
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, unknown> };
};
const derived = JSON.parse(
  readFileSync(new URL('./openapi/response-schemas.json', import.meta.url), 'utf8'),
) as Derived;

/**
 * Where the description contradicts itself, Bitbucket's answers win: a participant's `state` lists
 * `null` among its values and `participated_on` is "null if they have not commented", but neither
 * is marked `nullable`. Both are made nullable here — the two fields Bitbucket sends as null.
 */
function hostNulls(schemas: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(schemas) as Record<
    string,
    { allOf?: { properties?: Record<string, object> }[] }
  >;
  const participant = copy.participant?.allOf?.find((s) => s.properties?.state)?.properties;
  if (!participant) throw new Error('participant has no state in the derived schemas');
  participant.state = { ...participant.state, nullable: true };
  participant.participated_on = { ...participant.participated_on, nullable: true };
  return copy;
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
addFormats.default(ajv);
ajv.addSchema({ components: { schemas: hostNulls(derived.components.schemas) } }, 'bitbucket');
/**
 * A partial response ("Partial responses": `fields`) holds only the fields it names — the `type`
 * every object otherwise carries, and whatever else the description marks `required`, left out
 * too: it is checked against the same schemas without `required` (types, formats and the fields
 * allowed still hold).
 */
const withoutRequired = (node: unknown): unknown => {
  if (Array.isArray(node)) return node.map(withoutRequired);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k, v]) => !(k === 'required' && Array.isArray(v)))
      .map(([k, v]) => [k, withoutRequired(v)]),
  );
};
ajv.addSchema(
  { components: { schemas: withoutRequired(hostNulls(derived.components.schemas)) } },
  'bitbucket-partial',
);
const validator = (path: string, status = '200', registry = 'bitbucket'): ValidateFunction => {
  const schema = derived.paths[path]?.[status];
  if (!schema) throw new Error(`no schema for GET ${path} ${status}`);
  return ajv.compile(
    JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${registry}#/components/`)) as object,
  );
};

const R = '/repositories/{workspace}/{repo_slug}';
const validators = {
  repository: validator(R),
  pulls: validator(`${R}/pullrequests`),
  pull: validator(`${R}/pullrequests/{pull_request_id}`),
  pullStatuses: validator(`${R}/pullrequests/{pull_request_id}/statuses`),
  comments: validator(`${R}/pullrequests/{pull_request_id}/comments`),
  partialComments: validator(`${R}/pullrequests/{pull_request_id}/comments`, '200', 'bitbucket-partial'),
  commitStatuses: validator(`${R}/commit/{commit}/statuses`),
  diffstat: validator(`${R}/diffstat/{spec}`),
  conflicts: validator(`${R}/file-conflicts/{spec}`),
  commits: validator(`${R}/commits`),
  notFound: validator(`${R}/pullrequests/{pull_request_id}`, '404'),
  user: validator('/user'),
  userPulls: validator('/workspaces/{workspace}/pullrequests/{selected_user}'),
  userPullsNotFound: validator('/workspaces/{workspace}/pullrequests/{selected_user}', '404'),
};

describe('Bitbucket emulator answers conform to Bitbucket Cloud’s OpenAPI description', () => {
  let bb: BitbucketEmulator;
  const token = 'ATCTT3x-conformance';
  let open = 0;
  let merged = 0;
  let head = '';

  const get = async (path: string) => {
    const res = await fetch(path.startsWith('http') ? path : `${bb.apiUrl}${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: (await res.json()) as unknown, url: res.url };
  };
  const conforms = (validate: ValidateFunction, body: unknown) => {
    const ok = validate(body);
    expect(validate.errors ?? [], JSON.stringify(body).slice(0, 500)).toEqual([]);
    expect(ok).toBe(true);
  };

  beforeAll(async () => {
    bb = await startBitbucketEmulator({ diffstatPagelen: 1 });
    bb.addAccessToken(token, { workspace: 'acme' });
    bb.model.createRepo({ full_name: 'acme/api', is_private: true });
    bb.model.createRepo({ full_name: 'kim/api', is_private: false, fork_of: 'acme/api' });
    const pr = bb.model.openPull('acme/api', {
      source_branch: 'feature',
      source_repo: 'kim/api',
      commits: 3,
      draft: true,
      files: [
        { path: 'a.ts', lines_added: 3, lines_removed: 1 },
        { path: 'b.ts', lines_added: 0, lines_removed: 2 },
      ],
    });
    open = pr.id;
    bb.model.addReviewers('acme/api', open, ['zoe', 'lee']);
    bb.model.verdict('acme/api', open, 'lee', 'approved');
    bb.model.verdict('acme/api', open, 'kim', 'changes_requested');
    const thread = bb.model.comment('acme/api', open, 'kim', {
      body: 'Why?',
      inline: { path: 'a.ts', to: 2 },
    });
    bb.model.comment('acme/api', open, 'agent', { body: 'Because', parent: thread.id });
    const done = bb.model.comment('acme/api', open, 'lee', { inline: { path: 'b.ts', from: 1 } });
    bb.model.resolve('acme/api', open, done.id, 'agent');
    bb.model.comment('acme/api', open, 'lee', { body: 'General' });
    const gone = bb.model.comment('acme/api', open, 'lee', { inline: { path: 'a.ts', to: 1 } });
    bb.model.deleteComment('acme/api', open, gone.id);
    // A draft of the token's own user, listed to it with `pending`.
    bb.model.comment('acme/api', open, 'access-token', { inline: { path: 'b.ts', to: 1 }, pending: true });
    bb.model.setConflicts('acme/api', open, [{ path: 'a.ts' }, { path: 'b.ts', scenario: 'delete_modify' }]);
    head = bb.model.head('acme/api', open);
    bb.model.setStatus(head, { key: 'build', state: 'FAILED', description: 'broke', refname: 'feature' });
    bb.model.setStatus(head, { key: 'lint', state: 'INPROGRESS' });
    bb.model.setStatus(pr.commits[0]!, { key: 'build', state: 'STOPPED' });
    const other = bb.model.openPull('acme/api', { source_branch: 'done' });
    bb.model.merge('acme/api', other.id, { close_source_branch: true });
    merged = other.id;
  });
  afterAll(async () => {
    expect(bb.counters.unexpected).toEqual([]);
    await bb.close();
  });

  it('repository, PR list and PRs (open with participants, merged with its branch closed)', async () => {
    conforms(validators.repository, (await get('/repositories/acme/api')).body);
    conforms(validators.repository, (await get('/repositories/kim/api')).body);
    const q = encodeURIComponent('source.branch.name="done"');
    conforms(
      validators.pulls,
      (await get('/repositories/acme/api/pullrequests?state=OPEN&state=MERGED')).body,
    );
    conforms(validators.pulls, (await get(`/repositories/acme/api/pullrequests?q=${q}&state=MERGED`)).body);
    conforms(validators.pull, (await get(`/repositories/acme/api/pullrequests/${open}`)).body);
    conforms(validators.pull, (await get(`/repositories/acme/api/pullrequests/${merged}`)).body);
    const missing = await get('/repositories/acme/api/pullrequests/999');
    expect(missing.status).toBe(404);
    conforms(validators.notFound, missing.body);
  });

  it("the current user, and a user's PRs across a workspace (all states, and a user it does not know)", async () => {
    conforms(validators.user, (await get('/user')).body);
    const user = encodeURIComponent(bb.model.user('agent').uuid);
    conforms(
      validators.userPulls,
      (await get(`/workspaces/acme/pullrequests/${user}?state=OPEN&state=MERGED&sort=-updated_on`)).body,
    );
    const missing = await get('/workspaces/acme/pullrequests/nobody-at-all');
    expect(missing.status).toBe(404);
    conforms(validators.userPullsNotFound, missing.body);
  });

  it('status lists: the PR’s (oldest and newest first, over pages) and a commit’s own', async () => {
    let page: string | undefined = `/repositories/acme/api/pullrequests/${open}/statuses?pagelen=2`;
    let pages = 0;
    while (page) {
      const read = (await get(page)).body as { next?: string };
      conforms(validators.pullStatuses, read);
      page = read.next;
      pages++;
    }
    expect(pages).toBe(2);
    conforms(
      validators.pullStatuses,
      (await get(`/repositories/acme/api/pullrequests/${open}/statuses?sort=-created_on`)).body,
    );
    conforms(validators.commitStatuses, (await get(`/repositories/kim/api/commit/${head}/statuses`)).body);
  });

  it('diffstat and file conflicts (after their 302), commits and comments', async () => {
    const diffstat = await get(`/repositories/acme/api/pullrequests/${open}/diffstat`);
    expect(diffstat.url).toContain('/diffstat/');
    conforms(validators.diffstat, diffstat.body);
    conforms(validators.diffstat, (await get((diffstat.body as { next: string }).next)).body);
    const conflicts = await get(`/repositories/acme/api/pullrequests/${open}/conflicts`);
    expect(conflicts.url).toContain('/file-conflicts/');
    conforms(validators.conflicts, conflicts.body);
    conforms(validators.commits, (await get(`/repositories/acme/api/pullrequests/${open}/commits`)).body);
    conforms(validators.commits, (await get(`/repositories/acme/api/pullrequests/${merged}/commits`)).body);
    const comments = (await get(`/repositories/acme/api/pullrequests/${open}/comments?pagelen=100`)).body;
    conforms(validators.comments, comments);
    expect((comments as { values: { pending: boolean }[] }).values.filter((c) => c.pending)).toHaveLength(1);
    // The partial answer a refresh asks for (`fields`, as gitsync sends it) conforms too.
    const fields =
      'next,values.id,values.deleted,values.pending,values.parent.id,values.inline.path,values.resolution';
    conforms(
      validators.partialComments,
      (await get(`/repositories/acme/api/pullrequests/${open}/comments?fields=${fields}&pagelen=2`)).body,
    );
  });
});
