import { type Store, tokenKey } from '../../src/store/store.ts';

/**
 * One owner's stored token for one provider, as the worker reads it (`getTokens`): null when
 * there is none; a token that cannot be opened throws the reason.
 */
export async function readToken(store: Pick<Store, 'getTokens'>, owner: string, provider: string) {
  const token = (await store.getTokens([{ owner, provider }])).get(tokenKey(owner, provider));
  if (token instanceof Error) throw token;
  return token ?? null;
}
