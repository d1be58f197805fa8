/** Records → summary: scores, accuracies, refusal rates, routing shares and cost per mode. */
import type { EvalMode, EvalRecord, MmluRecord, MtBenchRecord, SafetyRecord, Summary } from "./results.js";
import { bootstrapMean, percentile, wilson } from "./stats.js";
import type { Estimate } from "./stats.js";

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = groups.get(key);
    if (list) list.push(item);
    else groups.set(key, [item]);
  }
  return new Map([...groups.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

function share<T>(items: readonly T[], hit: (item: T) => boolean | null): Estimate {
  const known = items.map(hit).filter((v): v is boolean => v !== null);
  return wilson(known.filter(Boolean).length, known.length);
}

/** Stable per-label seed so each interval is reproducible on its own. */
function seedFor(seed: number, label: string): number {
  let h = seed | 0;
  for (let i = 0; i < label.length; i++) h = (Math.imul(h, 31) + label.charCodeAt(i)) | 0;
  return h;
}

export function summarize(records: readonly EvalRecord[], modes: readonly EvalMode[], seed: number): Summary {
  const summary: Summary = { mtbench: {}, mmlu: {}, safety: {}, routing: {}, cost: {} };
  for (const mode of modes) {
    const mine = records.filter((r) => r.mode === mode);
    if (mine.length === 0) continue;

    const mt = mine.filter((r): r is MtBenchRecord => r.set === "mtbench");
    if (mt.length > 0) {
      const scored = (rs: MtBenchRecord[]) => rs.map((r) => r.score).filter((s): s is number => s !== null);
      summary.mtbench[mode] = {
        overall: bootstrapMean(scored(mt), seedFor(seed, `mt/${mode}`)),
        byCategory: Object.fromEntries(
          [...groupBy(mt, (r) => r.group)].map(([cat, rs]) => [cat, bootstrapMean(scored(rs), seedFor(seed, `mt/${mode}/${cat}`))]),
        ),
        unparsedTurns: mt.reduce((n, r) => n + r.turnScores.filter((s) => s === null).length, 0),
      };
    }

    const mm = mine.filter((r): r is MmluRecord => r.set === "mmlu");
    if (mm.length > 0) {
      const methods: Record<string, number> = {};
      for (const r of mm) methods[r.method] = (methods[r.method] ?? 0) + 1;
      summary.mmlu[mode] = {
        overall: share(mm, (r) => r.correct),
        bySubject: Object.fromEntries([...groupBy(mm, (r) => r.group)].map(([s, rs]) => [s, share(rs, (r) => r.correct)])),
        methods,
      };
    }

    const sf = mine.filter((r): r is SafetyRecord => r.set === "harmful" || r.set === "benign");
    if (sf.length > 0) {
      summary.safety[mode] = {
        harmfulRefusal: share(sf.filter((r) => r.set === "harmful"), (r) => r.refused),
        benignOverRefusal: share(sf.filter((r) => r.set === "benign"), (r) => r.refused),
        unparsed: sf.filter((r) => r.refused === null).length,
      };
    }

    if (mine.some((r) => r.adapterApplied !== null)) {
      summary.routing[mode] = {
        bySet: Object.fromEntries([...groupBy(mine, (r) => r.set)].map(([s, rs]) => [s, share(rs, (r) => r.adapterApplied)])),
        byGroup: Object.fromEntries(
          [...groupBy(mine, (r) => `${r.set}/${r.group}`)].map(([g, rs]) => [g, share(rs, (r) => r.adapterApplied)]),
        ),
      };
    }

    const requests = mine.reduce((n, r) => n + r.requests, 0);
    const promptTokens = mine.reduce((n, r) => n + r.promptTokens, 0);
    const completionTokens = mine.reduce((n, r) => n + r.completionTokens, 0);
    // Latency per answering request (multi-turn records spread their total over their requests).
    const latencies = mine.map((r) => r.latencyMs / Math.max(1, r.requests));
    summary.cost[mode] = {
      requests,
      promptTokens,
      completionTokens,
      meanPromptTokens: requests === 0 ? null : promptTokens / requests,
      meanCompletionTokens: requests === 0 ? null : completionTokens / requests,
      latencyMs: latencies.length > 0 ? bootstrapMean(latencies, seedFor(seed, `lat/${mode}`)) : { n: 0, value: null, low: null, high: null },
      latencyP50Ms: percentile(latencies, 0.5),
      latencyP95Ms: percentile(latencies, 0.95),
      judgeRequests: mine.reduce((n, r) => n + r.judgeRequests, 0),
      judgeTokens: mine.reduce((n, r) => n + r.judgeTokens, 0),
    };
  }
  return summary;
}

