/**
 * Query filtering for stage 1: too-short queries, exact duplicates (after normalisation) and
 * near-duplicates (token-set Jaccard similarity at or above a threshold) are dropped, keeping the
 * first occurrence in a fixed order so the result is deterministic.
 */

export type DropReason = "empty" | "too-short" | "duplicate" | "near-duplicate" | "runaway";

export function normaliseText(text: string): string {
  return text
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
}

export function tokenSet(text: string): Set<string> {
  return new Set(normaliseText(text).split(" ").filter((t) => t !== ""));
}

export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let inter = 0;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  for (const t of small) if (large.has(t)) inter++;
  return inter / (a.size + b.size - inter);
}

export interface FilterOptions {
  /** Queries with at most this many characters are dropped (PRISM: 15). */
  readonly minChars: number;
  /** Jaccard similarity at or above which a query counts as a near-duplicate. */
  readonly nearDuplicateJaccard: number;
}

export interface FilterDecision<T> {
  readonly item: T;
  readonly kept: boolean;
  readonly reason: DropReason | null;
  /** Key of the kept query this one duplicates. */
  readonly duplicateOf: string | null;
}

/** Filters `items` in order; `text(item)` is the query, `key(item)` its id. Global across personas. */
export function filterQueries<T>(
  items: readonly T[],
  text: (item: T) => string,
  key: (item: T) => string,
  options: FilterOptions,
): FilterDecision<T>[] {
  const kept: { key: string; norm: string; tokens: Set<string> }[] = [];
  const byNorm = new Map<string, string>();
  return items.map((item) => {
    const t = text(item).trim();
    if (t === "") return { item, kept: false, reason: "empty", duplicateOf: null };
    if (t.length <= options.minChars) return { item, kept: false, reason: "too-short", duplicateOf: null };
    const norm = normaliseText(t);
    const exact = byNorm.get(norm);
    if (exact !== undefined) return { item, kept: false, reason: "duplicate", duplicateOf: exact };
    const tokens = tokenSet(t);
    const near = kept.find((k) => jaccard(k.tokens, tokens) >= options.nearDuplicateJaccard);
    if (near) return { item, kept: false, reason: "near-duplicate", duplicateOf: near.key };
    kept.push({ key: key(item), norm, tokens });
    byNorm.set(norm, key(item));
    return { item, kept: true, reason: null, duplicateOf: null };
  });
}
