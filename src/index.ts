/**
 * gitsync as a library: embed the store, engine and HTTP app in your own process.
 * `openRuntime` wires everything the way `gitsync serve` does.
 */
export { type AppConfig, loadConfig, parseConfigFile } from './config/config.ts';
export { type Clock, FakeClock, systemClock } from './core/clock.ts';
export * from './core/errors.ts';
export type { Logger } from './core/logger.ts';
export { DEFAULT_WORKER_SETTINGS, type WorkerSettings } from './core/schedule.ts';
export type { Chat, ChatView, DiffStatus, PrFields, PrState } from './core/types.ts';
export { Chats } from './engine/chats.ts';
export { Engine, type EngineDeps, type EngineObserver, type TickResult } from './engine/engine.ts';
export { EventHub, type StoredEvent } from './events/event-hub.ts';
export { type ChangeEvent, InProcessBus, type Publisher } from './events/publisher.ts';
export { FakeCodeHost, FakeProvider } from './providers/fake/fake-provider.ts';
export { GitHubProvider } from './providers/github/github-provider.ts';
export { GitLabProvider } from './providers/gitlab/gitlab-provider.ts';
export { createProviders, ProviderRegistry } from './providers/registry.ts';
export type {
  Provider,
  ProviderCapabilities,
  ProviderConfig,
  ProviderWebhooks,
  PullRef,
  RepoRef,
} from './providers/types.ts';
export { openRuntime, type Runtime, type RuntimeOptions } from './runtime.ts';
export { createApp, type GitsyncApp } from './server/app.ts';
export { type Database, openDatabase } from './store/database.ts';
export { migrate } from './store/migrate.ts';
export { SqlStore } from './store/sql-store.ts';
export type { Store } from './store/store.ts';
export { TokenCipher } from './store/token-cipher.ts';
