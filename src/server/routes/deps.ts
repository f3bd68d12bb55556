import type { Clock } from '../../core/clock.ts';
import type { Limits } from '../../core/limits.ts';
import type { Logger } from '../../core/logger.ts';
import type { Engine } from '../../engine/engine.ts';
import type { EventHub } from '../../events/event-hub.ts';
import type { ProviderRegistry } from '../../providers/registry.ts';
import type { Store } from '../../store/store.ts';
import type { EventStreams } from '../event-streams.ts';
import type { KeyAuthority } from '../keys.ts';
import type { Metrics } from '../metrics.ts';

/** What route groups work with. */
export interface RouteDeps {
  store: Store;
  engine: Engine;
  hub: EventHub;
  providers: ProviderRegistry;
  keys: KeyAuthority;
  metrics: Metrics;
  clock: Clock;
  logger: Logger;
  limits: Limits;
  streams: EventStreams;
}
