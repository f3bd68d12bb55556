import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.ts';
import { appJwt } from '../../src/providers/github/app.ts';
import { type EmuApp, type EmuInstallation, JWT_MESSAGES } from './app.ts';
import { type GitHubEmulator, startGitHubEmulator } from './server.ts';

/**
 * The emulator's GitHub App routes: bodies valid against GitHub's published OpenAPI description
 * (@octokit/openapi, api.github.com.json and ghes-3.19.json), the App's JWT checked as GitHub
 * checks it (signature with the App's public key, `exp` ahead and at most 10 minutes, `iat` not
 * in the future), installation tokens that read what the installation covers, on a budget of the
 * installation's, for an hour.
 */
const require = createRequire(import.meta.url);
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
addFormats.default(ajv);
type Responses = Record<string, { $ref?: string; content?: Record<string, { schema: unknown }> }>;

function validatorsFor(file: string) {
  const spec = JSON.parse(readFileSync(require.resolve(`@octokit/openapi/generated/${file}`), 'utf8')) as {
    paths: Record<string, Record<string, { responses: Responses }>>;
    components: { responses: Record<string, unknown> };
  };
  if (!ajv.getSchema(file)) ajv.addSchema(nullables({ components: spec.components }) as object, file);
  const rewrite = (schema: unknown) =>
    nullables(
      JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${file}#/components/`)),
    ) as object;
  const response = (method: string, path: string, status: string): ValidateFunction => {
    let res = spec.paths[path]?.[method]?.responses[status];
    if (res?.$ref) res = spec.components.responses[res.$ref.split('/').pop()!] as typeof res;
    const schema = res?.content?.['application/json']?.schema;
    if (!schema) throw new Error(`no schema for ${method} ${path} ${status} in ${file}`);
    return ajv.compile(rewrite(schema));
  };
  return {
    app: response('get', '/app', '200'),
    // The list's own inline schema types `account` as `allOf` a user and an enterprise, which no
    // user account (it has no `slug`) satisfies; its items are the `installation` schema otherwise.
    installations: ajv.compile(
      rewrite({ type: 'array', items: { $ref: '#/components/schemas/installation' } }),
    ),
    repoInstallation: response('get', '/repos/{owner}/{repo}/installation', '200'),
    notFound: response('get', '/repos/{owner}/{repo}/installation', '404'),
    token: response('post', '/app/installations/{installation_id}/access_tokens', '201'),
    refused: response('post', '/app/installations/{installation_id}/access_tokens', '401'),
    forbidden: response('post', '/app/installations/{installation_id}/access_tokens', '403'),
  };
}

/**
 * OpenAPI 3.0's `nullable: true` beside `anyOf` and no `type` (the `installation` schema's
 * `account`), which Ajv refuses, as JSON Schema says it: one more alternative, `null`.
 */
function nullables(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(nullables);
  if (schema === null || typeof schema !== 'object') return schema;
  const out = Object.fromEntries(Object.entries(schema).map(([k, value]) => [k, nullables(value)]));
  if (out.nullable === true && out.type === undefined) {
    delete out.nullable;
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe.each(['api.github.com.json', 'ghes-3.19.json'])('GitHub App routes of the emulator (%s)', (file) => {
  const v = validatorsFor(file);
  const clock = new FakeClock(new Date());
  let gh: GitHubEmulator;
  let app: EmuApp;
  let acme: EmuInstallation;

  beforeAll(async () => {
    gh = await startGitHubEmulator({ now: () => clock.now() });
    gh.model.createRepo({ owner: 'acme', name: 'secret', private: true });
    gh.model.createRepo({ owner: 'acme', name: 'other', private: true });
    gh.model.createRepo({ owner: 'umbrella', name: 'lab', private: true });
    gh.model.openPull('acme/secret', { head: 'feature' });
    app = gh.apps.registerApp({ slug: 'tester', publicKey });
    acme = gh.apps.install(app, 'acme', ['acme/secret'], 4000);
  });
  afterAll(() => gh.close());

  const jwt = () => appJwt(String(app.id), privateKey, clock.now());
  const call = async (method: string, path: string, bearer: string) => {
    const res = await fetch(`${gh.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}` },
    });
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are poked at on purpose here
    return { status: res.status, headers: res.headers, json: (await res.json()) as any };
  };
  const valid = (validate: ValidateFunction, body: unknown) => {
    const ok = validate(body);
    expect(ok ? [] : ajv.errorsText(validate.errors, { separator: '\n' }).split('\n').slice(0, 10)).toEqual(
      [],
    );
  };

  it('GET /app, GET /app/installations, GET /repos/{o}/{r}/installation answer the App', async () => {
    const me = await call('GET', '/app', jwt());
    expect(me.status).toBe(200);
    valid(v.app, me.json);
    expect(me.json).toMatchObject({ id: app.id, slug: 'tester' });
    const list = await call('GET', '/app/installations', jwt());
    valid(v.installations, list.json);
    expect(list.json.map((i: { id: number }) => i.id)).toEqual([acme.id]);
    const found = await call('GET', '/repos/acme/secret/installation', jwt());
    valid(v.repoInstallation, found.json);
    expect(found.json).toMatchObject({ id: acme.id, app_id: app.id, repository_selection: 'selected' });
    // Not installed there (another repository of the account, not chosen; another account): 404.
    for (const repo of ['acme/other', 'umbrella/lab', 'nobody/none']) {
      const missing = await call('GET', `/repos/${repo}/installation`, jwt());
      expect(missing.status).toBe(404);
      valid(v.notFound, missing.json);
    }
    expect(gh.counters.unexpected).toEqual([]);
  });

  it('mints installation tokens that read the installation’s repositories for an hour, on its own budget', async () => {
    const minted = await call('POST', `/app/installations/${acme.id}/access_tokens`, jwt());
    expect(minted.status).toBe(201);
    valid(v.token, minted.json);
    const { token, expires_at } = minted.json as { token: string; expires_at: string };
    expect(token).toMatch(/^ghs_[A-Za-z0-9_-]{36}$/);
    expect(Date.parse(expires_at)).toBe(Math.floor(clock.now().getTime() / 1000) * 1000 + 3_600_000);

    const read = await call('GET', '/repos/acme/secret/pulls/1', token);
    expect(read.status).toBe(200);
    expect(read.headers.get('x-ratelimit-limit')).toBe('4000');
    expect(read.headers.get('x-ratelimit-resource')).toBe('core');
    // A second token of the same installation spends the same budget.
    const again = (await call('POST', `/app/installations/${acme.id}/access_tokens`, jwt())).json
      .token as string;
    const used = Number(read.headers.get('x-ratelimit-used'));
    const next = await call('GET', '/repos/acme/secret', again);
    expect(Number(next.headers.get('x-ratelimit-used'))).toBe(used + 1);
    // What the installation does not cover stays hidden.
    expect((await call('GET', '/repos/acme/other', token)).status).toBe(404);
    // An hour on, the token is refused.
    clock.advance(60 * 60_000);
    expect((await call('GET', '/repos/acme/secret', token)).status).toBe(401);
    clock.advance(-60 * 60_000);
  });

  it('refuses a JWT as GitHub does: 401 with GitHub’s words', async () => {
    const now = Math.floor(clock.now().getTime() / 1000);
    const forge = (claims: object, key = privateKey) => {
      const head = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
      const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
      const sig = sign('sha256', Buffer.from(`${head}.${body}`), key).toString('base64url');
      return `${head}.${body}.${sig}`;
    };
    const cases: [string, string][] = [
      [forge({ iat: now - 60, exp: now + 540, iss: app.id }, stranger.privateKey), JWT_MESSAGES.undecodable],
      [forge({ iat: now - 60, exp: now + 540, iss: 424242 }), JWT_MESSAGES.undecodable],
      ['ghp_personal_token', JWT_MESSAGES.undecodable],
      [forge({ iat: now - 700, exp: now - 1, iss: app.id }), JWT_MESSAGES.expired],
      [forge({ iat: now - 60, exp: now + 11 * 60, iss: app.id }), JWT_MESSAGES.tooFar],
      [forge({ iat: now + 300, exp: now + 540, iss: app.id }), JWT_MESSAGES.issuedLater],
    ];
    for (const [bearer, message] of cases) {
      const refused = await call('POST', `/app/installations/${acme.id}/access_tokens`, bearer);
      expect(refused.status).toBe(401);
      expect(refused.json.message).toBe(message);
      valid(v.refused, refused.json);
    }
    // gitsync's own JWT, as issued: accepted.
    expect((await call('POST', `/app/installations/${acme.id}/access_tokens`, jwt())).status).toBe(201);
  });

  it('a suspended installation: 403 for new tokens, its tokens refused; deleted: 404', async () => {
    const token = (await call('POST', `/app/installations/${acme.id}/access_tokens`, jwt())).json
      .token as string;
    await gh.apps.suspend(acme);
    const refused = await call('POST', `/app/installations/${acme.id}/access_tokens`, jwt());
    expect(refused.status).toBe(403);
    expect(refused.json.message).toBe('This installation has been suspended');
    valid(v.forbidden, refused.json);
    expect((await call('GET', '/repos/acme/secret', token)).status).toBe(401);
    // Still the repository's installation, showing when it was suspended.
    expect((await call('GET', '/repos/acme/secret/installation', jwt())).json.suspended_at).toEqual(
      expect.any(String),
    );
    await gh.apps.unsuspend(acme);
    expect((await call('POST', `/app/installations/${acme.id}/access_tokens`, jwt())).status).toBe(201);
    await gh.apps.uninstall(acme);
    expect((await call('POST', `/app/installations/${acme.id}/access_tokens`, jwt())).status).toBe(404);
    expect((await call('GET', '/repos/acme/secret/installation', jwt())).status).toBe(404);
    acme = gh.apps.install(app, 'acme', ['acme/secret'], 4000);
  });
});
