import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AzureDevOpsEmulator, startAzureDevOpsEmulator } from './server.ts';

/**
 * Every answer the emulator gives to the reads gitsync makes must fit the response schemas
 * Microsoft publishes for Azure DevOps' REST API 7.1 (MicrosoftDocs/vsts-rest-api-specs, MIT;
 * the subset kept in `rest-spec/`, see its README). Stricter than the specification in one way:
 * an object may carry only the properties its definition lists, so the emulator invents no
 * field gitsync could come to rely on.
 */
type Schema = Record<string, unknown>;
type Subset = { paths: Record<string, { schema: Schema }>; definitions: Record<string, Schema> };
const load = (area: 'git' | 'policy') =>
  JSON.parse(readFileSync(new URL(`./rest-spec/${area}.json`, import.meta.url), 'utf8')) as Subset;

/**
 * Definitions that are dictionaries on the wire, whatever properties the specification gives
 * them: `PropertiesCollection` is sent as `{name: {$type, $value}}` (the threads example of the
 * specification), `ReferenceLinks` as `{rel: {href}}`, a `JObject` (a policy's settings, an
 * evaluation's context) as whatever the policy type keeps.
 */
const OPEN = new Set(['PropertiesCollection', 'ReferenceLinks', 'JObject']);

/**
 * Swagger 2.0 has no `null`, yet Azure DevOps sends it (`"threadContext": null` in the
 * specification's own threads example): every property may be null. `allOf` (a status is a
 * `GitStatus`, a reviewer an `IdentityRef`) is folded into one object so it can be closed.
 */
function prepare(definitions: Record<string, Schema>): Record<string, Schema> {
  const fold = (name: string): Schema => {
    let d = definitions[name]!;
    const props: Record<string, Schema> = {};
    for (const part of (d.allOf as Schema[] | undefined) ?? []) {
      // A part without a reference is inline: a dictionary such as `ChangeCountDictionary`.
      if (typeof part.$ref !== 'string') {
        d = { ...part, ...d };
        continue;
      }
      Object.assign(props, fold(part.$ref.split('/').pop()!).properties as Record<string, Schema>);
    }
    Object.assign(props, (d.properties as Record<string, Schema> | undefined) ?? {});
    return { ...d, properties: props };
  };
  const nullable = (s: Schema): Schema => {
    // `Change<T>.item` is a generic the generator wrote as `{type: string, format: T}`; the
    // specification's own iteration-changes example sends an item object (`{objectId, path}`).
    if (s.format === 'T') return {};
    // The Git area writes a policy's `settings` as `{type: string, format: JObject}`; the policy
    // area's own example (`httpExamples/configurations/GET__policy_configurations.json`) sends
    // an object, as the policy area's `JObject` definition says.
    if (s.format === 'JObject') return {};
    if (s.$ref) return { anyOf: [{ $ref: s.$ref }, { type: 'null' }] };
    const out: Schema = { ...s };
    if (typeof s.type === 'string') out.type = [s.type, 'null'];
    if (Array.isArray(s.enum)) out.enum = [...s.enum, null];
    if (s.items) out.items = nullable(s.items as Schema);
    if (s.additionalProperties && typeof s.additionalProperties === 'object')
      out.additionalProperties = nullable(s.additionalProperties as Schema);
    return out;
  };
  const out: Record<string, Schema> = {};
  for (const name of Object.keys(definitions)) {
    const d = fold(name);
    const { allOf: _allOf, ...rest } = d;
    const props = Object.fromEntries(
      Object.entries(d.properties as Record<string, Schema>).map(([k, v]) => [k, nullable(v)]),
    );
    out[name] = {
      ...rest,
      type: 'object',
      properties: props,
      ...(OPEN.has(name) || d.additionalProperties ? {} : { additionalProperties: false }),
    };
  }
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
addFormats.default(ajv);
// Formats of .NET types the specification names without a JSON meaning.
for (const f of ['int16', 'T', 'JToken', 'JTokenType', 'Stream']) ajv.addFormat(f, true);

function validators(area: 'git' | 'policy') {
  const spec = load(area);
  ajv.addSchema({ $id: area, definitions: prepare(spec.definitions) });
  const rewrite = (schema: unknown) =>
    JSON.parse(JSON.stringify(schema).replaceAll('"#/definitions/', `"${area}#/definitions/`)) as Schema;
  return (path: string): ValidateFunction => {
    const schema = spec.paths[path]?.schema;
    if (!schema) throw new Error(`no ${path} in rest-spec/${area}.json`);
    // A list is answered in Azure DevOps' collection wrapper, `{count, value: [...]}`.
    const wire =
      schema.type === 'array'
        ? {
            type: 'object',
            required: ['value'],
            properties: { count: { type: 'integer' }, value: rewrite(schema) },
            additionalProperties: false,
          }
        : rewrite(schema);
    return ajv.compile(wire);
  };
}

const REPOS = '/{organization}/{project}/_apis/git/repositories/{repositoryId}';
const PULL = `${REPOS}/pullRequests/{pullRequestId}`;

describe('Azure DevOps emulator answers fit the published REST 7.1 specification', () => {
  const git = validators('git');
  const policy = validators('policy');
  const schemas = {
    repository: git(REPOS),
    pulls: git(`${REPOS}/pullrequests`),
    projectPulls: git('/{organization}/{project}/_apis/git/pullrequests'),
    pull: git(`${REPOS}/pullrequests/{pullRequestId}`),
    reviewers: git(`${PULL}/reviewers`),
    iterations: git(`${PULL}/iterations`),
    changes: git(`${PULL}/iterations/{iterationId}/changes`),
    commits: git(`${PULL}/commits`),
    statuses: git(`${PULL}/statuses`),
    threads: git(`${PULL}/threads`),
    configurations: git('/{organization}/{project}/_apis/git/policy/configurations'),
    evaluations: policy('/{organization}/{project}/_apis/policy/evaluations'),
  };
  const PAT = 'restspecpat0123456789abcdefghijklmnopqrstuvwxyz01234';
  let az: AzureDevOpsEmulator;
  let projectId = '';
  const REPO = 'contoso/Platform/api';
  const api = '/contoso/Platform/_apis/git/repositories/api';

  const get = async (path: string) => {
    const sep = path.includes('?') ? '&' : '?';
    const res = await fetch(
      `${az.url}${path}${sep}api-version=${path.includes('/policy/evaluations') ? '7.1-preview.1' : '7.1'}`,
      {
        headers: { authorization: `Basic ${Buffer.from(`:${PAT}`).toString('base64')}` },
      },
    );
    expect(res.status, path).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  };
  const fits = (validate: ValidateFunction, body: unknown, what: string) => {
    const ok = validate(body);
    expect(ok ? [] : validate.errors, what).toEqual([]);
  };

  let ids: { open: number; done: number; fork: number };
  beforeAll(async () => {
    az = await startAzureDevOpsEmulator();
    az.addToken(PAT, 'agent@contoso.com');
    const m = az.model;
    const repo = m.createRepo(REPO, { visibility: 'public' });
    projectId = repo.project.id;
    m.createRepo('contoso/Forks/api', { fork_of: REPO });
    const ci = m.addPolicy(REPO, 'build', { settings: { displayName: 'CI' } });
    const gate = m.addPolicy(REPO, 'status', { settings: { statusGenre: 'sonar', statusName: 'gate' } });
    m.addPolicy(REPO, 'minimumReviewers', { settings: { minimumApproverCount: 2 } });
    const team = m.group('[Platform]\\Reviewers');
    m.addPolicy(REPO, 'requiredReviewers', { settings: { requiredReviewerIds: [team.id] } });
    m.addPolicy(REPO, 'comments', { blocking: false });
    const open = m.openPull(REPO, {
      source_branch: 'feature',
      files: 3,
      commits: 2,
      author: 'agent@contoso.com',
    });
    m.pushToPull(open, { files: 4 });
    m.vote(open, 'ann@contoso.com', 10);
    m.vote(open, 'bo@contoso.com', -5, team);
    m.addReviewer(open, 'cy@contoso.com', { required: true });
    m.build(open, ci, 'failed', { errors: ['src/a.ts(1,1): error TS2304'] });
    m.expireBuild(open, ci);
    m.postStatus(open, gate, 'pending');
    m.postPullStatus(open, {
      genre: 'jenkins',
      name: 'build',
      state: 'failed',
      iteration: 1,
      target_url: 'https://ci.example.com/1',
      description: 'Build failed',
    });
    m.postPullStatus(open, { name: 'lint', state: 'succeeded' });
    const thread = m.comment(open, {
      author: 'ann@contoso.com',
      content: 'Why?',
      path: '/src/a.ts',
      line: 3,
    });
    m.reply(thread, 'agent@contoso.com', 'Because.');
    m.deleteComment(m.comment(open, { author: 'bo@contoso.com', content: 'oops' }), 1);
    const done = m.openPull(REPO, { source_branch: 'merged' });
    m.complete(done, { delete_source_branch: true });
    m.push('contoso/Forks/api', 'fix');
    const fork = m.openPull(REPO, { source_branch: 'fix', source_repo: 'contoso/Forks/api' });
    ids = { open: open.id, done: done.id, fork: fork.id };
  });
  afterAll(async () => {
    expect(az.counters.unexpected).toEqual([]);
    await az.close();
  });

  it('repositories, with and without a fork parent', async () => {
    fits(schemas.repository, await get(api), 'repository');
    fits(schemas.repository, await get('/contoso/Forks/_apis/git/repositories/api'), 'fork');
  });

  it("pull requests: one, the repository's and the project's lists, a completed one, one from a fork; their reviewers", async () => {
    for (const id of Object.values(ids)) {
      const pull = await get(`${api}/pullrequests/${id}`);
      fits(schemas.pull, pull, `pull ${id}`);
      fits(
        schemas.reviewers,
        { value: pull.reviewers, count: (pull.reviewers as unknown[]).length },
        'reviewers',
      );
    }
    fits(schemas.pulls, await get(`${api}/pullrequests?searchCriteria.status=all`), 'pulls');
    fits(
      schemas.projectPulls,
      await get('/contoso/Platform/_apis/git/pullrequests?searchCriteria.status=all'),
      'project pulls',
    );
  });

  it('iterations and their changes, commits, statuses, threads', async () => {
    const base = `${api}/pullRequests/${ids.open}`;
    fits(schemas.iterations, await get(`${base}/iterations`), 'iterations');
    fits(schemas.changes, await get(`${base}/iterations/2/changes?$top=2`), 'changes');
    fits(schemas.commits, await get(`${base}/commits?$top=1`), 'commits');
    const statuses = await get(`${base}/statuses`);
    expect((statuses.value as unknown[]).length).toBe(3);
    fits(schemas.statuses, statuses, 'statuses');
    fits(schemas.threads, await get(`${base}/threads`), 'threads');
  });

  it('policy evaluations: build (failed, then expired), status, reviewers, comments', async () => {
    const artifact = encodeURIComponent(`vstfs:///CodeReview/CodeReviewId/${projectId}/${ids.open}`);
    const body = await get(`/contoso/${projectId}/_apis/policy/evaluations?artifactId=${artifact}`);
    expect((body.value as unknown[]).length).toBe(5);
    fits(schemas.evaluations, body, 'evaluations');
  });

  it('policy configurations of a branch: build, status, reviewers, comments', async () => {
    const repositoryId = az.model.repo(REPO).id;
    const body = await get(
      `/contoso/${projectId}/_apis/git/policy/configurations?repositoryId=${repositoryId}&refName=refs/heads/main`,
    );
    expect((body.value as unknown[]).length).toBe(5);
    fits(schemas.configurations, body, 'configurations');
  });

  it('catches an answer that does not fit (the check itself works)', () => {
    expect(schemas.statuses({ value: [{ id: 1, state: 'passed', context: { name: 'x' } }] })).toBe(false);
    expect(schemas.pull({ pullRequestId: 1, inventedField: true })).toBe(false);
  });
});
