import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from './server.ts';

/**
 * Every response body the emulator serves must conform to GitHub's published OpenAPI
 * description (package @octokit/openapi, generated/api.github.com.json, OpenAPI 3.0).
 */
const require = createRequire(import.meta.url);
const spec = JSON.parse(
  readFileSync(require.resolve('@octokit/openapi/generated/api.github.com.json'), 'utf8'),
) as {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>
  >;
  components: unknown;
};

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
addFormats.default(ajv);
// OpenAPI 3.0 marks nullable fields with `nullable: true`; Ajv understands it alongside `type`.
ajv.addSchema({ components: spec.components }, 'github');

const rewriteRefs = (schema: unknown): unknown =>
  JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"github#/components/'));

function responseValidator(path: string, status = '200'): ValidateFunction {
  const schema = spec.paths[path]?.get?.responses[status]?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`no schema for GET ${path} ${status}`);
  return ajv.compile(rewriteRefs(schema) as object);
}

const validators = {
  repo: responseValidator('/repos/{owner}/{repo}'),
  pulls: responseValidator('/repos/{owner}/{repo}/pulls'),
  pull: responseValidator('/repos/{owner}/{repo}/pulls/{pull_number}'),
  reviews: responseValidator('/repos/{owner}/{repo}/pulls/{pull_number}/reviews'),
};

describe('GitHub emulator responses conform to GitHub’s OpenAPI description', () => {
  let gh: GitHubEmulator;
  const token = 'ghp_conformance';

  beforeAll(async () => {
    gh = await startGitHubEmulator();
    gh.addToken(token, 'octo');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    gh.model.createRepo({ owner: 'forker', name: 'app', fork_of: 'acme/app' });
    const open = gh.model.openPull('acme/app', {
      head: 'feature',
      draft: true,
      additions: 5,
      body: 'Adds a thing',
    });
    gh.model.review('acme/app', open.number, { login: 'alice', state: 'CHANGES_REQUESTED' });
    gh.model.review('acme/app', open.number, { login: 'bob', state: 'APPROVED' });
    const merged = gh.model.openPull('acme/app', { head: 'done' });
    gh.model.merge('acme/app', merged.number);
    gh.model.openPull('acme/app', { head: 'forker:fix' });
    const closed = gh.model.openPull('acme/app', { head: 'dropped' });
    gh.model.close('acme/app', closed.number);
  });
  afterAll(() => gh.close());

  const get = async (path: string) => {
    const res = await fetch(`${gh.apiUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are poked at on purpose here
    return (await res.json()) as any;
  };

  const expectValid = (validate: ValidateFunction, body: unknown) => {
    const ok = validate(body);
    expect(ok ? [] : ajv.errorsText(validate.errors, { separator: '\n' }).split('\n').slice(0, 20)).toEqual(
      [],
    );
  };

  it('GET /repos/{owner}/{repo} (plain and fork)', async () => {
    expectValid(validators.repo, await get('/repos/acme/app'));
    const fork = await get('/repos/forker/app');
    expectValid(validators.repo, fork);
    expect(fork.parent.full_name).toBe('acme/app');
  });

  it('GET /repos/{owner}/{repo}/pulls', async () => {
    const all = await get('/repos/acme/app/pulls?state=all');
    expect(all).toHaveLength(4);
    expectValid(validators.pulls, all);
  });

  it('GET /repos/{owner}/{repo}/pulls/{pull_number} for open/draft, merged, fork and closed PRs', async () => {
    for (const n of [1, 2, 3, 4]) expectValid(validators.pull, await get(`/repos/acme/app/pulls/${n}`));
  });

  it('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', async () => {
    const reviews = await get('/repos/acme/app/pulls/1/reviews');
    expect(reviews).toHaveLength(2);
    expectValid(validators.reviews, reviews);
  });

  it('the validator is not vacuous: a body missing a required field fails', async () => {
    const pull = await get('/repos/acme/app/pulls/1');
    delete pull.head;
    expect(validators.pull(pull)).toBe(false);
    expect(validators.pull({ ...(await get('/repos/acme/app/pulls/1')), state: 'merged' })).toBe(false);
    const nested = await get('/repos/acme/app/pulls/1');
    nested.head.repo.owner.login = 42;
    expect(validators.pull(nested)).toBe(false);
    const reviews = await get('/repos/acme/app/pulls/1/reviews');
    delete reviews[0]._links;
    expect(validators.reviews(reviews)).toBe(false);
  });
});
