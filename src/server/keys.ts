import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import type { KeyScope, Store } from '../store/store.ts';

/** Who is calling: an admin (may act for every owner), one owner, or one owner's report-only key. */
export interface Principal {
  admin: boolean;
  owner_id: string | null;
  /** null for the admin key from GITSYNC_ADMIN_TOKEN (it is not stored). */
  key_id: string | null;
  scope: KeyScope;
}

export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

/** 256 random bits; the prefix makes leaked keys easy to spot and grep for. */
export const generateKey = () => `gsk_${randomBytes(32).toString('base64url')}`;

/**
 * Resolves API keys. The admin key comes from GITSYNC_ADMIN_TOKEN (compared in constant time)
 * or is generated once at first start and stored hashed; owner keys are stored hashed too.
 */
export class KeyAuthority {
  readonly #adminHash: Buffer | null;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    adminToken?: string,
  ) {
    this.#adminHash = adminToken ? createHash('sha256').update(adminToken).digest() : null;
  }

  async authenticate(presented: string | null | undefined): Promise<Principal | null> {
    if (!presented || presented.length > 512) return null;
    const digest = createHash('sha256').update(presented).digest();
    if (this.#adminHash && timingSafeEqual(digest, this.#adminHash))
      return { admin: true, owner_id: null, key_id: null, scope: 'admin' };
    // Looked up by hash: the comparison happens on a digest, not on the secret.
    const record = await this.store.findApiKey(digest.toString('hex'));
    if (!record) return null;
    return { admin: record.admin, owner_id: record.owner_id, key_id: record.id, scope: record.scope };
  }

  /**
   * At start. With GITSYNC_ADMIN_TOKEN, deletes stored admin keys (the variable replaces a key
   * generated earlier, which must stop working) and reports how many. Without it and with no admin
   * key stored yet, makes one; of replicas starting together only the one whose insert lands gets
   * `generated` (the caller shows it once), the others null.
   */
  async ensureAdminKey(): Promise<{ generated: string | null; revoked: number }> {
    if (this.#adminHash) return { generated: null, revoked: await this.store.deleteAdminKeys() };
    if (await this.store.hasAdminKey()) return { generated: null, revoked: 0 };
    const key = generateKey();
    const inserted = await this.store.createGeneratedAdminKey({
      id: randomUUID(),
      name: 'admin (generated at first start)',
      key_hash: hashKey(key),
      created_at: this.clock.now(),
    });
    return { generated: inserted ? key : null, revoked: 0 };
  }

  async createOwnerKey(ownerId: string, name: string, scope: Exclude<KeyScope, 'admin'> = 'owner') {
    const key = generateKey();
    const record = {
      id: randomUUID(),
      name,
      owner_id: ownerId,
      admin: false,
      scope,
      created_at: this.clock.now(),
    };
    await this.store.createApiKey({ ...record, key_hash: hashKey(key) });
    return { ...record, key };
  }

  /** Whether a principal's key still exists (the admin key from the environment always does). */
  async stillValid(principal: Principal): Promise<boolean> {
    return principal.key_id === null || (await this.store.apiKeyExists(principal.key_id));
  }
}
