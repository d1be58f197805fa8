/**
 * Summary statistics with 95% intervals. Means (judge scores, latency) use a seeded percentile
 * bootstrap, which assumes nothing about the 1–10 score distribution; proportions (accuracy,
 * refusal, routing share) use the Wilson score interval, which behaves at 0% and 100% and small n.
 */
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import { z } from "zod";

export const estimateSchema = z.object({
  n: z.number().int().nonnegative(),
  /** null when n = 0. */
  value: z.number().nullable(),
  low: z.number().nullable(),
  high: z.number().nullable(),
});
export type Estimate = z.infer<typeof estimateSchema>;

const Z95 = 1.959963984540054;
const EMPTY: Estimate = { n: 0, value: null, low: null, high: null };

export function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

function quantileSorted(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

/** Mean with a 95% percentile-bootstrap interval; deterministic for a given seed. */
export function bootstrapMean(values: readonly number[], seed: number, resamples = 2000): Estimate {
  const n = values.length;
  if (n === 0) return EMPTY;
  const m = mean(values);
  if (n === 1) return { n, value: m, low: m, high: m };
  const rng = xoroshiro128plus(seed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[uniformInt(rng, 0, n - 1)] as number;
    means[r] = sum / n;
  }
  means.sort();
  const sorted = Array.from(means);
  return { n, value: m, low: quantileSorted(sorted, 0.025), high: quantileSorted(sorted, 0.975) };
}

/** Proportion successes/n with a 95% Wilson score interval. */
export function wilson(successes: number, n: number): Estimate {
  if (n === 0) return EMPTY;
  const p = successes / n;
  const z2 = Z95 * Z95;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (Z95 * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { n, value: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export function percentile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  return quantileSorted([...values].sort((a, b) => a - b), q);
}
