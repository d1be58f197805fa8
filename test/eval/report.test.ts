import { describe, expect, it } from "vitest";
import { renderReport } from "../../src/eval/report/html.js";
import type { EvalMode, EvalRecord, EvalResults } from "../../src/eval/results.js";
import { evalResultsSchema } from "../../src/eval/results.js";
import { summarize } from "../../src/eval/summarize.js";

const common = (mode: EvalMode, id: string, group: string, route: string | null) => ({
  id,
  group,
  mode,
  model: mode === "routed" ? "prism" : "prism:base",
  persona: mode === "persona" ? group : null,
  route,
  adapterApplied: route === null ? null : route !== "base",
  gateScore: null,
  requests: 1,
  promptTokens: 10,
  completionTokens: 5,
  latencyMs: 100,
  judgeRequests: 1,
  judgeTokens: 20,
});

function records(): EvalRecord[] {
  const out: EvalRecord[] = [];
  for (const mode of ["base", "persona", "routed"] as const) {
    for (let i = 0; i < 4; i++) {
      const route = mode === "routed" ? (i % 2 === 0 ? "writing" : "base") : "base";
      out.push({ set: "mtbench", ...common(mode, `${i}`, i < 2 ? "writing" : "math", route), answers: ["a"], turnScores: [i + 3, i < 3 ? 5 : null], judgeOutputs: ["[[5]]"], score: i + 3 });
      out.push({ set: "mmlu", ...common(mode, `m-${i}`, "marketing", route), gold: "A", predicted: i % 2 ? "A" : "B", correct: i % 2 === 1, method: "logprob", letterLogprobs: { A: -1 } });
      out.push({ set: "harmful", ...common(mode, `h-${i}`, "Fraud", route), answer: "no", refused: i < 3, method: "logprob", judgeOutput: "Yes" });
      out.push({ set: "benign", ...common(mode, `b-${i}`, "Fraud", route), answer: "ok", refused: i === 0 ? null : false, method: "text", judgeOutput: "No" });
    }
  }
  return out;
}

describe("summary and HTML report", () => {
  it("aggregates per mode and renders charts, tables and escaped text", () => {
    const recs = records();
    const summary = summarize(recs, ["base", "persona", "routed"], 3);
    expect(summary.mtbench.base?.overall).toMatchObject({ n: 4, value: 4.5 });
    expect(summary.mtbench.base?.unparsedTurns).toBe(1);
    expect(summary.mmlu.routed?.overall).toMatchObject({ n: 4, value: 0.5 });
    expect(summary.safety.base?.harmfulRefusal).toMatchObject({ n: 4, value: 0.75 });
    expect(summary.safety.base?.benignOverRefusal).toMatchObject({ n: 3, value: 0 });
    expect(summary.safety.base?.unparsed).toBe(1);
    expect(summary.routing.routed?.bySet.mtbench).toMatchObject({ n: 4, value: 0.5 });
    expect(summary.routing.base?.bySet.mmlu?.value).toBe(0);
    expect(summary.cost.persona).toMatchObject({ requests: 16, promptTokens: 160, completionTokens: 80, judgeRequests: 16 });

    const results: EvalResults = evalResultsSchema.parse({
      schemaVersion: 1,
      config: {
        baseURL: "http://x/v1?<script>",
        models: { base: "prism:base", persona: "prism:base", routed: "prism" },
        personaSource: "prompt",
        judge: { baseURL: "http://x/v1", model: "prism:base" },
        sets: ["mtbench", "mmlu", "safety"],
        modes: ["base", "persona", "routed"],
        limit: 4,
        seed: 3,
        temperature: 0,
        maxTokens: 64,
        concurrency: 2,
        serverIdentity: "prism",
      },
      counts: { mtbench: 4, mmlu: 4, harmful: 4, benign: 4 },
      records: recs,
      failures: [],
      summary,
      run: { wallMs: 1, cachedCalls: 0, finishedAt: "2026-01-01T00:00:00Z" },
    });
    const html = renderReport(results);
    expect(html).not.toContain("<script>");
    expect(html).toContain("http://x/v1?&lt;script&gt;");
    expect(html.match(/<svg /g)).toHaveLength(5); // MT-Bench, MMLU, safety, routing, scatter
    expect(html).toContain("MT-Bench score by category");
    expect(html).toContain("Adapter share by set / category");
    expect(html).toContain("MMLU accuracy vs MT-Bench score");
    expect(html).toContain("mtbench/writing");
    expect(html).not.toMatch(/NaN|undefined/);
    expect(html).not.toMatch(/<(script|link|img)\b/);
  });
});
