import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import type { Store } from '../store/store.ts';

/** Who is calling: an admin (may act for every owner) or one owner. */
export interface Principal {
  admin: boolean;
  owner_id: string | null;
  key_id: string | null;
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
      return { admin: true, owner_id: null, key_id: null };
    // Looked up by hash: the comparison happens on a digest, not on the secret.
    const record = await this.store.findApiKey(digest.toString('hex'));
    if (!record) return null;
    return { admin: record.admin, owner_id: record.owner_id, key_id: record.id };
  }

  /**
   * Without GITSYNC_ADMIN_TOKEN and with no admin key stored yet, makes one and returns it so
   * the caller can show it once. Otherwise returns null.
   */
  async ensureAdminKey(): Promise<string | null> {
    if (this.#adminHash || (await this.store.hasAdminKey())) return null;
    const key = generateKey();
    await this.store.createApiKey({
      id: randomUUID(),
      name: 'admin (generated at first start)',
      owner_id: null,
      admin: true,
      key_hash: hashKey(key),
      created_at: this.clock.now(),
    });
    return key;
  }

  async createOwnerKey(ownerId: string, name: string) {
    const key = generateKey();
    const record = { id: randomUUID(), name, owner_id: ownerId, admin: false, created_at: this.clock.now() };
    await this.store.createApiKey({ ...record, key_hash: hashKey(key) });
    return { ...record, key };
  }
}
