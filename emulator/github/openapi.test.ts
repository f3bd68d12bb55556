import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from './server.ts';

/**
 * Every response body the emulator serves must conform to GitHub's published OpenAPI
 * description (package @octokit/openapi, generated/api.github.com.json, OpenAPI 3.0) — and the
 * REST calls gitsync makes to one GitHub Enterprise Server description of the same package, since
 * the provider serves both. Error bodies (`basic-error`) and rate-limit headers are checked too.
 */
const require = createRequire(import.meta.url);
type Spec = {
  paths: Record<
    string,
    Record<
      string,
      { responses: Record<string, { $ref?: string; content?: Record<string, { schema: unknown }> }> }
    >
  >;
  components: { headers: Record<string, { schema: unknown }>; responses: Record<string, unknown> };
};
const DESCRIPTIONS = ['api.github.com.json', 'ghes-3.19.json'] as const;

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
addFormats.default(ajv);

function validatorsFor(file: (typeof DESCRIPTIONS)[number]) {
  const spec = JSON.parse(
    readFileSync(require.resolve(`@octokit/openapi/generated/${file}`), 'utf8'),
  ) as Spec;
  // OpenAPI 3.0 marks nullable fields with `nullable: true`; Ajv understands it alongside `type`.
  if (!ajv.getSchema(file)) ajv.addSchema({ components: spec.components }, file);
  const rewriteRefs = (schema: unknown): unknown =>
    JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${file}#/components/`));
  const response = (path: string, status = '200'): ValidateFunction => {
    let res = spec.paths[path]?.get?.responses[status];
    if (res?.$ref) res = spec.components.responses[res.$ref.split('/').pop()!] as typeof res;
    const schema = res?.content?.['application/json']?.schema;
    if (!schema) throw new Error(`no schema for GET ${path} ${status} in ${file}`);
    return ajv.compile(rewriteRefs(schema) as object);
  };
  const header = (name: string) => ajv.compile(rewriteRefs(spec.components.headers[name]!.schema) as object);
  return {
    repo: response('/repos/{owner}/{repo}'),
    pulls: response('/repos/{owner}/{repo}/pulls'),
    pull: response('/repos/{owner}/{repo}/pulls/{pull_number}'),
    reviews: response('/repos/{owner}/{repo}/pulls/{pull_number}/reviews'),
    notFound: response('/repos/{owner}/{repo}/pulls/{pull_number}', '404'),
    moved: response('/repos/{owner}/{repo}', '301'),
    forbidden: response('/repos/{owner}/{repo}', '403'),
    rateHeaders: {
      'x-ratelimit-limit': header('x-rate-limit-limit'),
      'x-ratelimit-remaining': header('x-rate-limit-remaining'),
      'x-ratelimit-reset': header('x-rate-limit-reset'),
    },
  };
}

describe.each(DESCRIPTIONS)(
  'GitHub emulator responses conform to GitHub’s OpenAPI description (%s)',
  (file) => {
    const validators = validatorsFor(file);
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
      gh.model.requestReviewers('acme/app', open.number, { reviewers: ['carol'], team_reviewers: ['core'] });
      const merged = gh.model.openPull('acme/app', { head: 'done' });
      gh.model.merge('acme/app', merged.number);
      gh.model.openPull('acme/app', { head: 'forker:fix' });
      const closed = gh.model.openPull('acme/app', { head: 'dropped' });
      gh.model.close('acme/app', closed.number);
    });
    afterAll(() => gh.close());

    const get = async (path: string, status = 200) => {
      const res = await fetch(`${gh.apiUrl}${path}`, {
        headers: { authorization: `Bearer ${token}` },
        redirect: 'manual',
      });
      expect(res.status).toBe(status);
      for (const [name, validate] of Object.entries(validators.rateHeaders)) {
        expect(validate(Number(res.headers.get(name))), `${name} on ${status}`).toBe(true);
      }
      // biome-ignore lint/suspicious/noExplicitAny: response bodies are poked at on purpose here
      return (await res.json()) as any;
    };
    const body = async (path: string, status: number) => {
      const res = await fetch(`${gh.apiUrl}${path}`, {
        headers: { authorization: `Bearer ${token}` },
        redirect: 'manual',
      });
      expect(res.status).toBe(status);
      return { json: (await res.json()) as Record<string, unknown>, headers: res.headers };
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
      // PR 1 has a person and a team asked to review (`simple-user`, `team-simple`).
      const asked = await get('/repos/acme/app/pulls/1');
      expect(asked.requested_reviewers.map((u: { login: string }) => u.login)).toEqual(['carol']);
      expect(asked.requested_teams.map((t: { slug: string }) => t.slug)).toEqual(['core']);
    });

    it('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', async () => {
      const reviews = await get('/repos/acme/app/pulls/1/reviews');
      expect(reviews).toHaveLength(2);
      expectValid(validators.reviews, reviews);
    });

    it('error bodies: 404, 301 of a renamed repository (with its location), 403 of an organization policy, rate limits', async () => {
      expectValid(validators.notFound, (await body('/repos/acme/app/pulls/99', 404)).json);
      gh.model.createRepo({ owner: 'old', name: 'name' });
      gh.model.renameRepo('old/name', 'new-name');
      const moved = await body('/repos/old/name', 301);
      expectValid(validators.moved, moved.json);
      expect(moved.headers.get('location')).toMatch(/\/repositories\/\d+$/);
      expectValid(
        validators.repo,
        (await body(new URL(moved.headers.get('location')!).pathname.replace(/^\/api\/v3/, ''), 200)).json,
      );
      gh.model.createRepo({ owner: 'sso', name: 'lib', restriction: 'saml' });
      expectValid(validators.forbidden, (await body('/repos/sso/lib', 403)).json);
      for (const kind of ['rate_limit', 'secondary_rate_limit', 'too_many_requests'] as const) {
        gh.addFaults({ kind, times: 1 });
        const res = await fetch(`${gh.apiUrl}/repos/acme/app`, {
          headers: { authorization: `Bearer ${token}` },
        });
        expect([403, 429]).toContain(res.status);
        // Error answers use GitHub's `basic-error` shape, as the 403 response of this path does.
        expectValid(validators.forbidden, await res.json());
      }
    });

    it('the validator is not vacuous: a body missing a required field fails', async () => {
      const pull = await get('/repos/acme/app/pulls/1');
      delete pull.head;
      expect(validators.pull(pull)).toBe(false);
      expect(validators.pull({ ...(await get('/repos/acme/app/pulls/1')), state: 'merged' })).toBe(false);
      const nested = await get('/repos/acme/app/pulls/1');
      nested.head.repo.owner.login = 42;
      expect(validators.pull(nested)).toBe(false);
      const teams = await get('/repos/acme/app/pulls/1');
      delete teams.requested_teams[0].slug;
      expect(validators.pull(teams)).toBe(false);
      const reviews = await get('/repos/acme/app/pulls/1/reviews');
      delete reviews[0]._links;
      expect(validators.reviews(reviews)).toBe(false);
    });
  },
);
