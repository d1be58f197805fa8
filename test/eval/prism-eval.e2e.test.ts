/**
 * `prism eval --limit` end to end: the real gateway (buildApp + LlamaEngine on the fixture model, with
 * the fixture LoRA loaded as adapter `fixture`) listens on port 0; the CLI drives it through the openai
 * SDK; the test checks results.json and report.html, then reruns to check resumability and determinism.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { configSchema } from "../../src/config/schema.js";
import { LlamaEngine } from "../../src/engine/llama-engine.js";
import type { EvalResults } from "../../src/eval/results.js";
import { evalResultsSchema } from "../../src/eval/results.js";
import type { RequestRouter, RouteDecision } from "../../src/routing/types.js";
import { buildApp } from "../../src/server/app.js";
import { TEST_THREADS } from "../helpers/llama.js";
import { fixturePaths } from "../helpers/paths.js";

const LIMIT = 2;
const MODES = 3;
/** ~80 requests on the tiny model: seconds on an idle machine, minutes on the shared 2-core one. */
const RUN_TIMEOUT_MS = 600_000;

/**
 * A fixed, inspectable routing rule standing in for a trained gate: knowledge (multiple-choice) prompts stay
 * on the base model, everything else goes to the adapter. Forced models (`prism:base`) are honoured.
 * The test then knows exactly which share the harness must report.
 */
const ruleRouter: RequestRouter = {
  async decide(input): Promise<RouteDecision> {
    const common = { gateScore: null, arm: null, experiment: null, personaPrompt: null, decisionMs: 0 } as const;
    if (input.model === "prism:base") return { ...common, route: "base", adapter: null, intent: "unknown", reason: "forced-model" };
    const first = input.messages.find((m) => m.role === "user")?.content ?? "";
    const knowledge = first.startsWith("The following is a multiple choice question");
    return knowledge
      ? { ...common, route: "base", adapter: null, gateScore: 0.1, intent: "discriminative", reason: "gate" }
      : { ...common, route: "fixture", adapter: "fixture", gateScore: 0.9, intent: "generative", reason: "gate" };
  },
};

describe("prism eval against a live gateway (fixture model)", () => {
  const engine = new LlamaEngine();
  let app: FastifyInstance;
  let baseURL: string;
  let out: string;

  beforeAll(async () => {
    const fixtures = fixturePaths();
    await engine.load({
      modelPath: fixtures.modelPath,
      threads: TEST_THREADS,
      contextSize: 1024,
      sequencesPerContext: 4,
      gpu: false,
      maxQueue: 64,
      queueTimeoutMs: 60_000,
    });
    await engine.loadAdapter("fixture", fixtures.loraPath, 1);
    app = await buildApp({ config: configSchema.parse({}), engine, router: ruleRouter, personas: () => ["fixture"] });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    if (address === null || typeof address === "string") throw new Error("no TCP address");
    baseURL = `http://127.0.0.1:${address.port}/v1`;
    out = await mkdtemp(join(tmpdir(), "prism-eval-"));
  });

  afterAll(async () => {
    await app?.close();
    await engine.dispose();
    if (out) await rm(out, { recursive: true, force: true });
  });

  const runCli = () =>
    main(["node", "prism", "eval", "--base-url", baseURL, "--limit", String(LIMIT), "--max-tokens", "8", "--concurrency", "4", "--seed", "5", "--out", out, "--no-progress"]);
  const readResults = async (): Promise<EvalResults> => evalResultsSchema.parse(JSON.parse(await readFile(join(out, "results.json"), "utf8")));

  it("writes consistent results and a report with every chart", async () => {
    await runCli();
    const results = await readResults();
    expect(results.failures).toEqual([]);
    expect(results.counts).toEqual({ mtbench: LIMIT, mmlu: LIMIT, harmful: LIMIT, benign: LIMIT });
    for (const set of ["mtbench", "mmlu", "harmful", "benign"] as const) {
      expect(results.records.filter((r) => r.set === set)).toHaveLength(LIMIT * MODES);
    }
    // Stratified: two MT-Bench questions from two different categories.
    expect(new Set(results.records.filter((r) => r.set === "mtbench").map((r) => r.group)).size).toBe(LIMIT);

    const { summary } = results;
    for (const mode of ["base", "persona", "routed"] as const) {
      const mt = summary.mtbench[mode];
      expect(mt?.overall.n ?? 0).toBeLessThanOrEqual(LIMIT);
      if (mt?.overall.value != null) {
        expect(mt.overall.value).toBeGreaterThanOrEqual(1);
        expect(mt.overall.value).toBeLessThanOrEqual(10);
      }
      expect(summary.mmlu[mode]?.overall.n).toBe(LIMIT);
      const rates = [summary.mmlu[mode]?.overall, summary.safety[mode]?.harmfulRefusal, summary.safety[mode]?.benignOverRefusal];
      for (const share of [...rates, ...Object.values(summary.routing[mode]?.byGroup ?? {})]) {
        if (share?.value == null) continue;
        expect(share.value).toBeGreaterThanOrEqual(0);
        expect(share.value).toBeLessThanOrEqual(1);
        expect(share.low as number).toBeLessThanOrEqual(share.value);
        expect(share.high as number).toBeGreaterThanOrEqual(share.value);
      }
      // Every MT-Bench record answered both turns; MMLU read letters from logprobs.
      const cost = summary.cost[mode];
      expect(cost?.requests).toBe(LIMIT * 2 + LIMIT + 2 * LIMIT);
      expect(cost?.completionTokens).toBeGreaterThan(0);
      expect(summary.mmlu[mode]?.methods.logprob).toBe(LIMIT);
    }
    // The harness reports the routes the gateway actually took (from x-prism-route).
    expect(summary.routing.routed?.bySet).toMatchObject({ mtbench: { value: 1 }, harmful: { value: 1 }, benign: { value: 1 }, mmlu: { value: 0 } });
    expect(summary.routing.base?.bySet.mtbench?.value).toBe(0);
    expect(results.records.filter((r) => r.mode === "persona").every((r) => r.persona !== null && r.model === "prism:base")).toBe(true);
    expect(results.records.filter((r) => r.mode === "routed" && r.set !== "mmlu").every((r) => r.route === "fixture" && r.gateScore === 0.9)).toBe(true);

    const html = await readFile(join(out, "report.html"), "utf8");
    expect(html.match(/<svg /g)).toHaveLength(5);
    for (const title of ["MT-Bench score by category", "MMLU accuracy by subject", "Refusal rates", "Adapter share by set / category", "MMLU accuracy vs MT-Bench score, per mode"]) {
      expect(html).toContain(title);
    }
    expect(html).not.toMatch(/NaN|undefined|<script|<link|src="http/);
  }, RUN_TIMEOUT_MS);

  it("resumes from the cache and reproduces the same records", async () => {
    const first = await readResults();
    await runCli();
    const second = await readResults();
    // Every answer and verdict came from the cache: nothing was generated twice.
    const totalCalls = first.records.reduce((n, r) => n + r.requests + r.judgeRequests, 0);
    expect(second.run.cachedCalls).toBe(totalCalls);
    expect(second.records).toEqual(first.records);
    expect(second.summary).toEqual(first.summary);
  }, RUN_TIMEOUT_MS);
});
