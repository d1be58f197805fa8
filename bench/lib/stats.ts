/** Order statistics for benchmark samples (NaN for none), and text agreement for parity checks. */

/** Nearest-rank percentile `p` (0–100) of `xs`. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Geometric mean of positive ratios (NaN for none): the average of per-round speed ratios. */
export function geometricMean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : Math.exp(xs.reduce((acc, x) => acc + Math.log(x), 0) / xs.length);
}

/** Whole words that `a` and `b` share from the start (a word cut by their divergence does not count). */
export function commonPrefixWords(a: string, b: string): number {
  let k = 0;
  while (k < a.length && k < b.length && a[k] === b[k]) k++;
  const words = a.slice(0, k).split(/\s+/).filter(Boolean).length;
  const boundary = (s: string) => k === s.length || /\s/.test(s[k]!);
  const lastWordCut = k > 0 && !/\s/.test(a[k - 1]!) && !(boundary(a) && boundary(b));
  return lastWordCut ? words - 1 : words;
}
