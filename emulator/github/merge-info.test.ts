import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from './server.ts';

/**
 * The emulator's Enterprise Server modes for `PullRequest.mergeStateStatus`, a schema preview
 * there ("Schema previews", "Merge info preview"): a query naming a field the server does not show
 * is refused as GitHub's graphql-ruby refuses it — HTTP 200, no `data`, one `undefinedField` error
 * per use with graphql-ruby's static path (lib/graphql/static_validation/base_visitor.rb,
 * rules/fields_are_defined_on_type_error.rb).
 */
describe('GitHub emulator: merge-info preview modes', () => {
  let gh: GitHubEmulator;
  const token = 'ghp_merge_info';
  const PREVIEW = 'application/vnd.github.merge-info-preview+json';
  beforeEach(async () => {
    gh = await startGitHubEmulator();
    gh.addToken(token, 'agent');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    gh.model.openPull('acme/app', { head: 'feature' });
  });
  afterEach(async () => {
    expect(gh.counters.unexpected).toEqual([]);
    await gh.close();
  });

  const query = `query Q($o: String!) {
  a: repository(owner: $o, name: "app") { pullRequest(number: 1) { number mergeStateStatus } }
  repository(owner: $o, name: "app") { pullRequest(number: 1) { ... on PullRequest { mergeable mergeStateStatus } } }
}`;
  const post = async (accept?: string) => {
    const res = await fetch(`${gh.webUrl}/api/graphql`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        ...(accept ? { accept } : {}),
      },
      body: JSON.stringify({ query, variables: { o: 'acme' } }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const refusal = {
    errors: [
      {
        path: ['query Q', 'a', 'pullRequest', 'mergeStateStatus'],
        extensions: { code: 'undefinedField', typeName: 'PullRequest', fieldName: 'mergeStateStatus' },
        locations: [{ line: 2, column: 75 }],
        message: "Field 'mergeStateStatus' doesn't exist on type 'PullRequest'",
      },
      {
        path: ['query Q', 'repository', 'pullRequest', '... on PullRequest', 'mergeStateStatus'],
        extensions: { code: 'undefinedField', typeName: 'PullRequest', fieldName: 'mergeStateStatus' },
        locations: [{ line: 3, column: 96 }],
        message: "Field 'mergeStateStatus' doesn't exist on type 'PullRequest'",
      },
    ],
  };

  it('public (github.com): the field is there with or without the preview', async () => {
    for (const accept of [undefined, PREVIEW]) {
      const { status, body } = await post(accept);
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      expect(body.data).toMatchObject({ a: { pullRequest: { mergeStateStatus: 'CLEAN' } } });
    }
  });

  it('preview: without the media type the field does not exist; with it, it answers', async () => {
    gh.mergeInfo = 'preview';
    const refused = await post();
    expect(refused.status).toBe(200);
    expect(refused.body).toEqual(refusal);
    // gh's CLI sends it with another preview in one header (cli/go-gh, pkg/api/http_client.go).
    const { body } = await post(`${PREVIEW}, application/vnd.github.nebula-preview`);
    expect(body.data).toMatchObject({ repository: { pullRequest: { mergeable: 'MERGEABLE' } } });
    expect(gh.graphqlRefusals).toBe(1);
    // Node's fetch asks `*/*` when told nothing.
    expect(gh.log.map((r) => r.accept)).toEqual(['*/*', `${PREVIEW}, application/vnd.github.nebula-preview`]);
  });

  it('absent: refused even with the media type; a query without the field is answered and charged', async () => {
    const res = await fetch(`${gh.webUrl}/_emulator/merge_info`, {
      method: 'PUT',
      body: JSON.stringify({ mode: 'absent' }),
    });
    expect(res.status).toBe(200);
    expect((await post(PREVIEW)).body).toEqual(refusal);
    expect(gh.budget(token, 'graphql').used).toBe(0);
    const ok = await fetch(`${gh.webUrl}/api/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        query: '{ repository(owner: "acme", name: "app") { pullRequest(number: 1) { mergeable } } }',
      }),
    });
    expect(await ok.json()).toEqual({ data: { repository: { pullRequest: { mergeable: 'MERGEABLE' } } } });
    expect(gh.budget(token, 'graphql').used).toBe(1);
  });
});
