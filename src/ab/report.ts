/** Per-arm A/B figures with 95% intervals: mean score (normal approx.), win-rate (Wilson). */
import type { ArmAggregate } from "./events.js";

const Z95 = 1.959963984540054;

export interface Interval {
  readonly value: number | null;
  readonly low: number | null;
  readonly high: number | null;
}

export interface ArmReport {
  readonly experiment: string;
  readonly arm: string;
  readonly requests: number;
  readonly feedback: number;
  readonly meanScore: Interval;
  readonly winRate: Interval;
  readonly meanLatencyMs: number | null;
  readonly promptTokensPerRequest: number | null;
  readonly completionTokensPerRequest: number | null;
}

export function wilson(successes: number, n: number): Interval {
  if (n === 0) return { value: null, low: null, high: null };
  const p = successes / n;
  const z2 = Z95 * Z95;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (Z95 * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return { value: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export function meanInterval(sum: number, sqSum: number, n: number): Interval {
  if (n === 0) return { value: null, low: null, high: null };
  const mean = sum / n;
  if (n === 1) return { value: mean, low: null, high: null };
  const variance = Math.max(0, (sqSum - n * mean * mean) / (n - 1));
  const half = Z95 * Math.sqrt(variance / n);
  return { value: mean, low: mean - half, high: mean + half };
}

export function armReports(rows: readonly ArmAggregate[]): ArmReport[] {
  return rows.map((r) => ({
    experiment: r.experiment,
    arm: r.arm,
    requests: r.requests,
    feedback: r.feedbackCount,
    meanScore: meanInterval(r.scoreSum, r.scoreSqSum, r.feedbackCount),
    winRate: wilson(r.wins, r.feedbackCount),
    meanLatencyMs: r.requests > 0 ? r.latencySum / r.requests : null,
    promptTokensPerRequest: r.requests > 0 ? r.promptTokens / r.requests : null,
    completionTokensPerRequest: r.requests > 0 ? r.completionTokens / r.requests : null,
  }));
}

function fmt(i: Interval, digits = 3): string {
  if (i.value === null) return "–";
  return i.low === null ? i.value.toFixed(digits) : `${i.value.toFixed(digits)} [${i.low.toFixed(digits)}, ${i.high!.toFixed(digits)}]`;
}

export function formatArmTable(reports: readonly ArmReport[]): string {
  const header = ["experiment", "arm", "requests", "feedback", "mean score [95% CI]", "win-rate [95% CI]", "latency ms", "tokens in/out"];
  const rows = reports.map((r) => [
    r.experiment,
    r.arm,
    String(r.requests),
    String(r.feedback),
    fmt(r.meanScore),
    fmt(r.winRate),
    r.meanLatencyMs === null ? "–" : r.meanLatencyMs.toFixed(1),
    r.promptTokensPerRequest === null ? "–" : `${r.promptTokensPerRequest.toFixed(1)}/${r.completionTokensPerRequest!.toFixed(1)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
