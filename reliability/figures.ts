/**
 * What every suite reports: requests sent, counts by status, crashes, leaks, RSS before/after, latency
 * percentiles. One recorder per suite; `summary()` is the plain-data figure set printed and written to JSON.
 */

export interface SuiteFigures {
  readonly suite: string;
  readonly requests: number;
  readonly byStatus: Record<string, number>;
  /** Responses with a 5xx status, a malformed error body, or a dropped connection the client did not cause. */
  readonly failures: number;
  readonly crashes: number;
  /** Sequences/queue entries/listeners left behind after the suite went idle. */
  readonly leaks: number;
  readonly rssBeforeMb: number;
  readonly rssAfterMb: number;
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly max: number };
  readonly durationS: number;
  readonly notes: Record<string, unknown>;
  /** First few failure descriptions, for the report. */
  readonly failureSamples: readonly string[];
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

export class SuiteRecorder {
  private readonly started = Date.now();
  private readonly rssBefore = process.memoryUsage().rss;
  private readonly latencies: number[] = [];
  private readonly statuses = new Map<string, number>();
  private readonly failureList: string[] = [];
  private failureCount = 0;
  crashes = 0;
  leaks = 0;
  readonly notes: Record<string, unknown> = {};

  constructor(readonly suite: string) {}

  /** One finished exchange; `status` is the HTTP status or a label such as `aborted`. */
  record(status: number | string, latencyMs?: number): void {
    const key = String(status);
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
    if (latencyMs !== undefined) this.latencies.push(latencyMs);
  }

  fail(description: string): void {
    this.failureCount++;
    if (this.failureList.length < 10) this.failureList.push(description);
  }

  get failures(): number {
    return this.failureCount;
  }

  get requests(): number {
    let total = 0;
    for (const n of this.statuses.values()) total += n;
    return total;
  }

  count(status: number | string): number {
    return this.statuses.get(String(status)) ?? 0;
  }

  summary(): SuiteFigures {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return {
      suite: this.suite,
      requests: this.requests,
      byStatus: Object.fromEntries([...this.statuses.entries()].sort()),
      failures: this.failureCount,
      crashes: this.crashes,
      leaks: this.leaks,
      rssBeforeMb: mb(this.rssBefore),
      rssAfterMb: mb(process.memoryUsage().rss),
      latencyMs: { p50: Math.round(percentile(sorted, 50)), p95: Math.round(percentile(sorted, 95)), max: Math.round(sorted.at(-1) ?? 0) },
      durationS: Math.round((Date.now() - this.started) / 100) / 10,
      notes: this.notes,
      failureSamples: this.failureList,
    };
  }
}

/** One readable block per suite, for the console. */
export function formatFigures(f: SuiteFigures): string {
  const statuses = Object.entries(f.byStatus)
    .map(([status, n]) => `${status}:${n}`)
    .join(" ");
  const lines = [
    `── ${f.suite} (${f.durationS}s)`,
    `   requests ${f.requests}  by status ${statuses || "-"}`,
    `   failures ${f.failures}  crashes ${f.crashes}  leaks ${f.leaks}`,
    `   RSS ${f.rssBeforeMb} MB → ${f.rssAfterMb} MB   latency p50 ${f.latencyMs.p50} ms  p95 ${f.latencyMs.p95} ms  max ${f.latencyMs.max} ms`,
  ];
  for (const [key, value] of Object.entries(f.notes)) lines.push(`   ${key}: ${JSON.stringify(value)}`);
  for (const sample of f.failureSamples) lines.push(`   ! ${sample}`);
  return lines.join("\n");
}

/**
 * Runs a full garbage collection when the process allows it (flag set at runtime, so plain `node`/vitest
 * workers work too): memory figures then show what is retained, not what is merely not yet collected.
 */
export async function collectGarbage(): Promise<void> {
  const { setFlagsFromString } = await import("node:v8");
  const { runInNewContext } = await import("node:vm");
  setFlagsFromString("--expose_gc");
  const gc = runInNewContext("gc") as (() => void) | undefined;
  gc?.();
  await new Promise((r) => setTimeout(r, 50));
  gc?.();
}

/** Retained JS memory (heap + external buffers), MB, after a full collection. */
export async function retainedMemoryMb(): Promise<number> {
  await collectGarbage();
  const usage = process.memoryUsage();
  return mb(usage.heapUsed + usage.external);
}
