// Benchmark output: one line per measured figure, always next to the raw limit measured in the
// same run (design.md, "Benchmarks").

export interface Figure {
  name: string;
  value: number;
  unit: string;
  limit: number;
  limitUnit?: string;
  /** What the limit is, e.g. "COPY (SELECT …) TO STDOUT through psql". */
  limitWhat: string;
}

export function reportFigure(f: Figure): void {
  const ratio = f.limit > 0 ? f.value / f.limit : 0;
  process.stdout.write(
    `${f.name}: ${round(f.value)} ${f.unit}; limit ${round(f.limit)} ${f.limitUnit ?? f.unit} (${f.limitWhat}); ratio ${ratio.toFixed(2)}\n`,
  );
}

/** Runs `fn` and returns seconds taken and the peak RSS seen while it ran (sampled every 50 ms). */
export async function measure<T>(fn: () => Promise<T>): Promise<{ seconds: number; peakRssMb: number; result: T }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  const start = performance.now();
  try {
    const result = await fn();
    return { seconds: (performance.now() - start) / 1000, peakRssMb: Math.max(peak, process.memoryUsage.rss()) / 1e6, result };
  } finally {
    clearInterval(timer);
  }
}

function round(n: number): string {
  return n >= 100 ? String(Math.round(n)) : n.toFixed(2);
}
