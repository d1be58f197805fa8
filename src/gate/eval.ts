/**
 * Routing evaluation over a labelled prompt set: what share of each intent and source the router
 * sends to an adapter, and how long decisions take. Used by `prism gate eval`.
 */
import type { RequestRouter } from "../routing/types.js";
import { sourceFamily, type IntentSample } from "./dataset.js";
import { percentile } from "./stats.js";

export interface ShareRow {
  readonly n: number;
  /** Share routed to any adapter. */
  readonly adapterShare: number;
  /** Per route name, share of requests. */
  readonly routes: Record<string, number>;
}

export interface RoutingEvalReport {
  readonly samples: number;
  readonly byIntent: Record<string, ShareRow>;
  readonly bySource: Record<string, ShareRow>;
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly max: number };
}

function shares(items: readonly { route: string }[]): ShareRow {
  const routes: Record<string, number> = {};
  for (const i of items) routes[i.route] = (routes[i.route] ?? 0) + 1 / items.length;
  return { n: items.length, adapterShare: items.filter((i) => i.route !== "base").length / Math.max(1, items.length), routes };
}

export async function evaluateRouting(
  router: RequestRouter,
  samples: readonly IntentSample[],
  options: { model: string; onProgress?: (done: number) => void },
): Promise<RoutingEvalReport> {
  const results: { sample: IntentSample; route: string; ms: number }[] = [];
  for (const sample of samples) {
    const started = performance.now();
    const d = await router.decide({ model: options.model, messages: [{ role: "user", content: sample.prompt }] });
    results.push({ sample, route: d.route, ms: performance.now() - started });
    options.onProgress?.(results.length);
  }
  const group = (key: (s: IntentSample) => string) => {
    const groups = new Map<string, { route: string }[]>();
    for (const r of results) groups.set(key(r.sample), [...(groups.get(key(r.sample)) ?? []), r]);
    return Object.fromEntries([...groups].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, shares(v)]));
  };
  const ms = results.map((r) => r.ms);
  return {
    samples: results.length,
    byIntent: group((s) => s.intent),
    bySource: group(sourceFamily),
    latencyMs: { p50: percentile(ms, 50), p95: percentile(ms, 95), max: Math.max(...ms) },
  };
}

export function formatShareTable(title: string, rows: Record<string, ShareRow>): string {
  const lines = [`${title.padEnd(16)}  ${"n".padStart(5)}  to adapter  routes`];
  for (const [k, r] of Object.entries(rows)) {
    const routes = Object.entries(r.routes).map(([name, s]) => `${name} ${(100 * s).toFixed(1)}%`).join(", ");
    lines.push(`${k.padEnd(16)}  ${String(r.n).padStart(5)}  ${(100 * r.adapterShare).toFixed(1).padStart(9)}%  ${routes}`);
  }
  return lines.join("\n");
}
