import type { Clock } from '../../core/clock.ts';
import type { Limits } from '../../core/limits.ts';
import type { Logger } from '../../core/logger.ts';
import type { Chats } from '../../engine/chats.ts';
import type { Engine } from '../../engine/engine.ts';
import type { EventHub } from '../../events/event-hub.ts';
import type { ProviderRegistry } from '../../providers/registry.ts';
import type { Store } from '../../store/store.ts';
import type { EventStreams } from '../event-streams.ts';
import type { KeyAuthority } from '../keys.ts';
import type { Metrics } from '../metrics.ts';

/** The parts the HTTP app is built from (`createApp`). */
export interface ServiceParts {
  store: Store;
  engine: Engine;
  hub: EventHub;
  providers: ProviderRegistry;
  keys: KeyAuthority;
  metrics: Metrics;
  clock: Clock;
  logger: Logger;
}

/** What route groups work with: the parts, the limits in force and this replica's event streams. */
export interface RouteDeps extends ServiceParts {
  limits: Limits;
  streams: EventStreams;
  chats: Chats;
}
