import client from 'prom-client';
import type { Clock } from '../core/clock.ts';
import type { EngineObserver } from '../engine/engine.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { BudgetState, Store } from '../store/store.ts';

/** Prometheus metrics of one process (`GET /metrics`). */
export class Metrics {
  readonly registry = new client.Registry();
  readonly refreshes = new client.Counter({
    name: 'gitsync_refreshes_total',
    help: 'Refreshed refs by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly claimSeconds = new client.Histogram({
    name: 'gitsync_claim_duration_seconds',
    help: 'Time to claim a batch of due refs',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly tickSeconds = new client.Histogram({
    name: 'gitsync_tick_duration_seconds',
    help: 'Time of one worker tick (claim, refresh, write, publish)',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly sseClients = new client.Gauge({
    name: 'gitsync_sse_clients',
    help: 'Open event streams',
    registers: [this.registry],
  });
  readonly webhookDeliveries = new client.Counter({
    name: 'gitsync_webhook_deliveries_total',
    help: 'Webhook deliveries by provider and result',
    labelNames: ['provider', 'result'] as const,
    registers: [this.registry],
  });
  readonly httpRequests = new client.Counter({
    name: 'gitsync_http_requests_total',
    help: 'HTTP requests by status class',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  constructor(deps: { store: Store; providers: ProviderRegistry; clock: Clock; overdueAfterMs: number }) {
    const { store, providers, clock, overdueAfterMs } = deps;
    client.collectDefaultMetrics({ register: this.registry, prefix: 'gitsync_process_' });
    // Both gauges come from one query per scrape (they are collected concurrently).
    let counting: { at: number; result: Promise<{ due: number; overdue: number }> } | null = null;
    const dueCounts = () => {
      const now = clock.now();
      if (!counting || now.getTime() - counting.at > 1000) {
        counting = {
          at: now.getTime(),
          result: store.countDueRefs(now, new Date(now.getTime() - overdueAfterMs)),
        };
      }
      return counting.result;
    };
    for (const [name, help, field] of [
      ['gitsync_rows_due', 'Tracked refs due for a refresh now', 'due'],
      [
        'gitsync_rows_overdue',
        'Tracked refs due for longer than the overdue threshold (the workers are behind)',
        'overdue',
      ],
    ] as const) {
      new client.Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          this.set((await dueCounts())[field]);
        },
      });
    }
    const budgetsOf = () => this.budgets?.() ?? [];
    this.#budgetByToken = new client.Gauge({
      name: 'gitsync_token_budget_remaining',
      help: "What a code host last said is left of a token's budget, by provider, budget scope and token fingerprint (an HMAC under the deployment's key: never the token or its owner)",
      labelNames: ['provider', 'scope', 'token'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const b of budgetsOf())
          if (b.remaining !== null)
            this.set(
              { provider: b.provider_id, scope: b.scope, token: b.token_fp.slice(0, 12) },
              b.remaining,
            );
      },
    });
    // The same gauge for scrapes that may not tell tokens apart (see `render`): one series per
    // provider and scope, the lowest any token has left.
    this.#budgetByProvider = new client.Gauge({
      name: 'gitsync_token_budget_remaining',
      help: "The lowest of what code hosts last said is left of their tokens' budgets, by provider and budget scope (token labels are served only to loopback scrapes or with GITSYNC_METRICS_TOKEN)",
      labelNames: ['provider', 'scope'] as const,
      registers: [],
      collect() {
        this.reset();
        const lowest = new Map<string, { provider: string; scope: string; remaining: number }>();
        for (const b of budgetsOf()) {
          if (b.remaining === null) continue;
          const key = `${b.provider_id}\u0000${b.scope}`;
          const seen = lowest.get(key);
          if (!seen || b.remaining < seen.remaining)
            lowest.set(key, { provider: b.provider_id, scope: b.scope, remaining: b.remaining });
        }
        for (const { provider, scope, remaining } of lowest.values())
          this.set({ provider, scope }, remaining);
      },
    });
    new client.Gauge({
      name: 'gitsync_provider_requests',
      help: 'Code-host requests made by this process, by provider, request kind and outcome (ok, not_modified, error)',
      labelNames: ['provider', 'kind', 'outcome'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const provider of providers.providers) {
          const counts = (
            provider as { requestCounts?: () => Record<string, Record<string, number>> }
          ).requestCounts?.();
          for (const [kind, byOutcome] of Object.entries(counts ?? {})) {
            for (const [outcome, n] of Object.entries(byOutcome))
              this.set({ provider: provider.config.id, kind, outcome }, n);
          }
        }
      },
    });
  }

  /** The token budgets this replica knows (set once the engine exists). */
  budgets: (() => BudgetState[]) | null = null;

  readonly #budgetByToken: client.Gauge<'provider' | 'scope' | 'token'>;
  readonly #budgetByProvider: client.Gauge<'provider' | 'scope'>;

  /**
   * The Prometheus text of every metric. Without `tokenLabels` the budget gauge has no token label
   * (one series per provider and scope): how many tokens there are and how each is spent, owner by
   * owner, is not for whoever can reach `/metrics` from elsewhere.
   */
  render(tokenLabels: boolean): Promise<string> {
    if (tokenLabels) return this.registry.metrics();
    const view = new client.Registry();
    // prom-client types these as plain objects, though they are the metrics registered above.
    for (const metric of this.registry.getMetricsAsArray() as unknown as client.Metric[])
      if (metric !== this.#budgetByToken) view.registerMetric(metric);
    view.registerMetric(this.#budgetByProvider);
    return view.metrics();
  }

  readonly observer: EngineObserver = {
    tick: (result, timings) => {
      this.claimSeconds.observe(timings.claim_ms / 1000);
      if (result.claimed > 0) this.tickSeconds.observe(timings.total_ms / 1000);
      for (const [outcome, n] of Object.entries(result.outcomes))
        if (n > 0) this.refreshes.inc({ outcome }, n);
    },
  };
}
