import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GiteaEmulator, startGiteaEmulator } from './server.ts';

/**
 * Every answer the emulator gives on the routes gitsync reads must conform to Gitea's own API
 * description (swagger/gitea-1.22-subset.json, cut from Gitea 1.22.0's `v1_json.tmpl`; see
 * swagger/README.md). Swagger 2.0 as go-swagger writes it marks no field nullable, while Go's
 * encoding/json writes every nil pointer, slice or map as null (`milestone`, `merged_at`,
 * `head.repo` of a deleted fork, `statuses` of a commit without any): null is accepted for any
 * property, every other value must match.
 */
type Schema = Record<string, unknown>;
const spec = JSON.parse(
  readFileSync(new URL('./swagger/gitea-1.22-subset.json', import.meta.url), 'utf8'),
) as {
  paths: Record<string, { get: { responses: { '200': { $ref: string } } } }>;
  responses: Record<string, { schema: Schema }>;
  definitions: Record<string, Schema>;
};

/** Each property may also be null (see above); `$ref`s point into the one document. */
function nullable(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(nullable);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema as Schema)) {
    if (k === 'properties')
      out[k] = Object.fromEntries(
        Object.entries(v as Schema).map(([name, p]) => [name, { anyOf: [{ type: 'null' }, nullable(p)] }]),
      );
    else if (k === '$ref') out[k] = `gitea${v as string}`;
    else out[k] = nullable(v);
  }
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
addFormats.default(ajv);
for (const f of ['int64', 'int32', 'uint64'])
  ajv.addFormat(f, { type: 'number', validate: Number.isInteger });
ajv.addSchema({ definitions: nullable(spec.definitions) }, 'gitea');

function route(path: string): ValidateFunction {
  const name = spec.paths[path]!.get.responses['200'].$ref.split('/').pop()!;
  return ajv.compile(nullable(spec.responses[name]!.schema) as object);
}

const TOKEN = 'gitea-swagger-token';

describe('Gitea emulator answers against Gitea’s swagger', () => {
  let gt: GiteaEmulator;
  beforeAll(async () => {
    gt = await startGiteaEmulator({ subUrl: '/gitea' });
    gt.addToken(TOKEN, 'agent');
    const m = gt.model;
    m.createRepo({ full_name: 'org/app', members: ['agent'] });
    m.createRepo({ full_name: 'agent/app', fork_of: 'org/app' });
    m.createRepo({ full_name: 'gone/app', fork_of: 'org/app' });
    const open = m.openPull('org/app', { head: 'feature', title: 'Feature', commits: 3 });
    m.requestReview('org/app', open.number, { login: 'lee' });
    m.requestReview('org/app', open.number, { team: 'org/core' });
    const review = m.review('org/app', open.number, 'kim', 'REQUEST_CHANGES', [
      { path: 'a.ts', line: 3, body: 'why' },
      { path: 'a.ts', line: -2, body: 'old side' },
    ]);
    m.resolveConversation('org/app', open.number, review.comments[0]!.id, 'kim');
    m.setStatus('org/app', open.head_sha, {
      context: 'ci',
      state: 'success',
      target_url: '/org/app/actions/runs/1',
    });
    m.setStatus('org/app', open.head_sha, { context: 'lint', state: 'failure', creator: 'bot' });
    // Merged with its branch deleted, a fork's PR, and one whose fork was deleted.
    const merged = m.openPull('org/app', { head: 'done' });
    m.merge('org/app', merged.number, { delete_branch: true });
    m.openPull('org/app', { head: 'fix', head_repo: 'agent/app' });
    m.openPull('org/app', { head: 'lost', head_repo: 'gone/app' });
    m.deleteRepo('gone/app');
  });
  afterAll(async () => {
    expect(gt.counters.unexpected).toEqual([]);
    await gt.close();
  });

  const get = async (path: string) => {
    const res = await fetch(`${gt.apiUrl}${path}`, { headers: { authorization: `token ${TOKEN}` } });
    expect(res.status, path).toBe(200);
    return res.json();
  };
  const valid = (validate: ValidateFunction, body: unknown) => {
    validate(body);
    return validate.errors ?? [];
  };

  it('PRs, one and listed, in every state: open, merged with the branch deleted, from a fork, from a deleted fork', async () => {
    const list = (await get('/repos/org/app/pulls?state=all&sort=recentupdate&limit=50')) as {
      number: number;
    }[];
    expect(list).toHaveLength(4);
    // The check has teeth: a wrong type anywhere is caught.
    const pullSchema = route('/repos/{owner}/{repo}/pulls/{index}');
    const wrong = valid(pullSchema, { number: 'one', head: { ref: 3 }, merged_at: 'yesterday' });
    expect(wrong.map((e) => e.instancePath)).toEqual(
      expect.arrayContaining(['/number', '/head/ref', '/merged_at']),
    );
    expect(valid(route('/repos/{owner}/{repo}/pulls'), list)).toEqual([]);
    for (const { number } of list)
      expect(
        valid(route('/repos/{owner}/{repo}/pulls/{index}'), await get(`/repos/org/app/pulls/${number}`)),
      ).toEqual([]);
  });

  it('reviews, a review’s code comments, commits, the combined status (with and without statuses), repositories, version', async () => {
    const reviews = (await get('/repos/org/app/pulls/1/reviews')) as { id: number }[];
    expect(valid(route('/repos/{owner}/{repo}/pulls/{index}/reviews'), reviews)).toEqual([]);
    const withComments = reviews.find((r) => (r as { comments_count?: number }).comments_count)!;
    expect(
      valid(
        route('/repos/{owner}/{repo}/pulls/{index}/reviews/{id}/comments'),
        await get(`/repos/org/app/pulls/1/reviews/${withComments.id}/comments`),
      ),
    ).toEqual([]);
    expect(
      valid(
        route('/repos/{owner}/{repo}/pulls/{index}/commits'),
        await get('/repos/org/app/pulls/1/commits'),
      ),
    ).toEqual([]);
    const head = gt.model.pull('org/app', 1).head_sha;
    for (const ref of [head, 'f'.repeat(40)])
      expect(
        valid(
          route('/repos/{owner}/{repo}/commits/{ref}/status'),
          await get(`/repos/org/app/commits/${ref}/status`),
        ),
      ).toEqual([]);
    for (const repo of ['org/app', 'agent/app'])
      expect(valid(route('/repos/{owner}/{repo}'), await get(`/repos/${repo}`))).toEqual([]);
    expect(valid(route('/version'), await get('/version'))).toEqual([]);
  });

  it('the issue search across repositories: PRs as issues, in every state', async () => {
    const found = (await get('/repos/issues/search?type=pulls&state=all&owner=org&limit=50')) as unknown[];
    expect(found).toHaveLength(4);
    expect(valid(route('/repos/issues/search'), found)).toEqual([]);
  });
});
