// What the running step has done, per table / module / exchange: the counters behind the `samples`
// of its --json summary and behind the Prometheus endpoint of --metrics-port (lib/metrics-server.ts).
// Engines count once per block or batch (never per row), so this costs nothing on hot paths; the
// endpoint reads the counters only when scraped.

export type CounterName = 'rows' | 'events' | 'bytes' | 'batches' | 'errors';
/** The Prometheus label a series is kept under. */
export type Scope = 'table' | 'module' | 'exchange';
export type LatencyName = 'confirm' | 'batch';

export interface Series {
  scope: Scope;
  name: string;
  counts: Record<CounterName, number>;
}

type LatencyListener = (latency: LatencyName, scope: Scope, name: string, ms: number) => void;

export class RunMetrics {
  /** Step totals (what the summary's samples record). */
  readonly totals: Record<CounterName, number> = { rows: 0, events: 0, bytes: 0, batches: 0, errors: 0 };
  private readonly byLabel = new Map<string, Series>();
  private readonly gauges = new Map<string, { scope: Scope; name: string; read: () => number }>();
  private latencyListener?: LatencyListener;

  /**
   * Adds to a table's / module's / exchange's counters and to the step totals. `total: false` keeps
   * a count per label only: each module of seed modules goes through every event, so their events
   * added up are not the step's.
   */
  add(scope: Scope, name: string, counts: Partial<Record<CounterName, number>>, options: { total?: boolean } = {}): void {
    const key = `${scope}\u0001${name}`;
    let series = this.byLabel.get(key);
    if (!series) {
      series = { scope, name, counts: { rows: 0, events: 0, bytes: 0, batches: 0, errors: 0 } };
      this.byLabel.set(key, series);
    }
    for (const k in counts) {
      const n = counts[k as CounterName] ?? 0;
      series.counts[k as CounterName] += n;
      if (options.total !== false) this.totals[k as CounterName] += n;
    }
  }

  /** A latency (a batch's commit, a publish's confirm), for the histograms of the endpoint. */
  observe(latency: LatencyName, scope: Scope, name: string, ms: number): void {
    this.latencyListener?.(latency, scope, name, ms);
  }

  /** Something read when scraped, e.g. messages published and not yet confirmed. */
  inFlight(scope: Scope, name: string, read: () => number): void {
    this.gauges.set(`${scope}\u0001${name}`, { scope, name, read });
  }

  series(): Series[] {
    return [...this.byLabel.values()];
  }

  inFlightGauges(): Array<{ scope: Scope; name: string; value: number }> {
    return [...this.gauges.values()].map((g) => ({ scope: g.scope, name: g.name, value: g.read() }));
  }

  onLatency(listener: LatencyListener | undefined): void {
    this.latencyListener = listener;
  }
}

/** The one step a ferry process runs. */
export const runMetrics = new RunMetrics();
