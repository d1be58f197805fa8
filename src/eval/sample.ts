/**
 * Seeded, stratified selection for `--limit N`: each stratum (category, subject) is shuffled with the
 * seed, then strata are taken round-robin in name order, so a small limit still covers every category
 * and the same seed always picks the same items.
 */
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";

export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const rng = xoroshiro128plus(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = uniformInt(rng, 0, i);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export function stratifiedSample<T>(
  items: readonly T[],
  stratumOf: (item: T) => string,
  limit: number | undefined,
  seed: number,
): T[] {
  const strata = new Map<string, T[]>();
  for (const item of items) {
    const key = stratumOf(item);
    const list = strata.get(key);
    if (list) list.push(item);
    else strata.set(key, [item]);
  }
  const keys = [...strata.keys()].sort();
  const queues = keys.map((key, k) => seededShuffle(strata.get(key) ?? [], seed + k));
  const total = limit === undefined ? items.length : Math.min(limit, items.length);
  const picked: T[] = [];
  for (let round = 0; picked.length < total; round++) {
    for (const queue of queues) {
      const item = queue[round];
      if (item !== undefined && picked.length < total) picked.push(item);
    }
  }
  return picked;
}
