import type { Clock } from '../core/clock.ts';
import { NotFoundError } from '../core/errors.ts';
import { DEFAULT_LIMITS, type Limits } from '../core/limits.ts';
import type { ChatView } from '../core/types.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { ChatInput, ListChatsQuery, Store } from '../store/store.ts';
import type { Engine, RefReportInput, RefreshNowResult } from './engine.ts';

/**
 * What an owner (or the admin, `owner` undefined) does with chats, tokens and reports — for the
 * HTTP routes and for library users alike. Each operation writes through the store, whose outbox
 * publishes its event in the same transaction, and says "rows are due" once where rows became due
 * (`engine.rowsDue`, every replica). `owner` scopes every call: another owner's chat is "not found".
 */
export class Chats {
  constructor(
    private readonly deps: {
      store: Store;
      engine: Engine;
      providers: ProviderRegistry;
      clock: Clock;
      limits?: Limits | undefined;
    },
  ) {}

  get #limits(): Limits {
    return this.deps.limits ?? DEFAULT_LIMITS;
  }

  /** Creates or updates; another owner's chat of that id is "not found", not a conflict that reveals it. */
  async put(input: ChatInput, owner?: string): Promise<{ chat: ChatView; created: boolean }> {
    const { chat, created } = await this.deps.store.putChat(
      input,
      this.deps.clock.now(),
      this.#limits,
      owner,
    );
    return { chat, created };
  }

  archive(id: string, owner?: string): Promise<ChatView> {
    return this.deps.store.archiveChat(id, this.deps.clock.now(), owner);
  }

  /** Its refs are due again: the worker looks at them at once. */
  async unarchive(id: string, owner?: string): Promise<ChatView> {
    const chat = await this.deps.store.unarchiveChat(id, this.deps.clock.now(), owner);
    this.deps.engine.rowsDue();
    return chat;
  }

  async delete(id: string, owner?: string): Promise<void> {
    await this.deps.store.deleteChat(id, owner);
  }

  async get(id: string, owner?: string): Promise<ChatView> {
    const chat = await this.deps.store.getChat(id, owner);
    if (!chat) throw new NotFoundError(`chat ${id} not found`);
    return chat;
  }

  list(query: ListChatsQuery) {
    return this.deps.store.listChats(query);
  }

  /** A ref report: recorded, published and announced as due by the engine. */
  report(input: RefReportInput, owner?: string): Promise<{ chat_ids: string[] }> {
    return this.deps.engine.reportRef(input, owner, this.#limits);
  }

  refreshNow(
    chatId: string,
    which: { origin?: string | undefined; branch?: string | undefined },
    owner?: string,
  ): Promise<RefreshNowResult> {
    return this.deps.engine.refreshNow(chatId, which, owner);
  }

  /** Per ref of the chat, what an agent needs to act on, read from the host now. */
  feedback(
    chatId: string,
    owner?: string,
    options?: { trusted_only?: boolean | undefined; since?: string | undefined },
  ) {
    return this.deps.engine.feedback(chatId, owner, options);
  }

  /** Refs that waited for a token can go now: the owner's refs on that provider are due at once. */
  async setToken(owner: string, providerId: string, token: string): Promise<void> {
    this.#provider(providerId);
    const now = this.deps.clock.now();
    await this.deps.store.putToken(owner, providerId, token, now);
    await this.deps.store.markOwnerRefsDue(owner, providerId, now);
    this.deps.engine.rowsDue();
  }

  /** The owner's pause switch for a provider (see Engine.setPaused). */
  async setPaused(owner: string, providerId: string, paused: boolean): Promise<void> {
    this.#provider(providerId);
    await this.deps.engine.setPaused(owner, providerId, paused);
  }

  /**
   * What the owner's calls spend of their budgets on each provider; of the service token, only the
   * owner's own use and allowance unless `admin` (then its totals).
   */
  budget(owner: string, options: { admin?: boolean } = {}) {
    return this.deps.engine.budget(owner, options);
  }

  async removeToken(owner: string, providerId: string): Promise<void> {
    this.#provider(providerId);
    await this.deps.store.deleteToken(owner, providerId);
  }

  #provider(id: string) {
    const provider = this.deps.providers.get(id);
    if (!provider) throw new NotFoundError(`unknown provider ${id}`);
    return provider;
  }
}
