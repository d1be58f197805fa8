/**
 * `prism gate eval` on the intents dev set with the real SmolLM2 model and a pack whose gate was trained
 * here on the fixture prompt families (writing requests vs short questions), never on the dev set.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { FIXTURE_APPLY_PROMPTS, FIXTURE_RETAIN_PROMPTS } from "../../src/adapters/fixture-pack.js";
import { baseModelSpecOf, describeServedModel } from "../../src/adapters/served-model.js";
import { LlamaEngine } from "../../src/engine/llama-engine.js";
import { readIntentSamples, sourceFamily } from "../../src/gate/dataset.js";
import { defaultFeatureSpec, GateFeatureExtractor } from "../../src/gate/features.js";
import { TokenEmbeddingTable } from "../../src/gate/token-embeddings.js";
import { trainGateHead } from "../../src/gate/train.js";
import { defaultModelPath } from "../helpers/paths.js";
import { TEST_THREADS } from "../helpers/llama.js";

const DEV = resolve("../shared/data/intents/dev.jsonl");
const run = promisify(execFile);

describe.skipIf(!existsSync(DEV) && !process.env.CI)("prism gate eval on the dev set", { timeout: 300_000 }, () => {
  it("prints route shares per intent and source and decision latency, JSON last", async () => {
    const model = defaultModelPath();
    const served = await describeServedModel(model);
    const spec = defaultFeatureSpec(served.embeddingLength);
    const engine = new LlamaEngine();
    await engine.load({ modelPath: model, threads: TEST_THREADS, contextSize: 512, sequencesPerContext: 1, gpu: false, maxQueue: 1, queueTimeoutMs: 60_000 });
    const extractor = new GateFeatureExtractor({ engine, tokenEmbeddings: await TokenEmbeddingTable.fromGguf(model) });
    const samples = [
      ...(await Promise.all(FIXTURE_APPLY_PROMPTS.map(async (p) => ({ features: await extractor.extract(spec, p), label: "apply" })))),
      ...(await Promise.all(FIXTURE_RETAIN_PROMPTS.map(async (p) => ({ features: await extractor.extract(spec, p), label: "retain" })))),
    ];
    await engine.dispose();
    const gate = trainGateHead(samples, { features: spec, hidden: 32, seed: 3, maxEpochs: 60 });

    const adapters = join(await mkdtemp(join(tmpdir(), "prism-gate-eval-")), "adapters");
    const pack = join(adapters, "writing");
    await mkdir(pack, { recursive: true });
    await writeFile(join(pack, "gate.json"), JSON.stringify(gate.file));
    await writeFile(
      join(pack, "manifest.json"),
      JSON.stringify({
        schemaVersion: 1,
        name: "writing",
        mode: "persona-prompt",
        persona: { text: "You are an expert writer." },
        intents: ["generative"],
        gate: { file: "gate.json" },
        baseModel: baseModelSpecOf(served),
      }),
    );

    const { stdout } = await run("npx", ["tsx", "src/cli/main.ts", "gate", "eval", "--data", DEV, "--model", model, "--adapters", adapters], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const lines = stdout.trim().split("\n");
    const report = JSON.parse(lines[lines.length - 1]!) as {
      samples: number;
      packs: string[];
      byIntent: Record<string, { n: number; adapterShare: number }>;
      bySource: Record<string, { n: number; adapterShare: number }>;
      latencyMs: { p50: number; p95: number };
    };
    // The whole dev set, every intent and source family of it.
    const dev = await readIntentSamples(DEV);
    const countBy = (key: (s: (typeof dev)[number]) => string) => Object.fromEntries([...new Set(dev.map(key))].sort().map((k) => [k, dev.filter((s) => key(s) === k).length]));
    expect(report.samples).toBe(dev.length);
    expect(report.packs).toEqual(["writing"]);
    expect(Object.fromEntries(Object.entries(report.byIntent).map(([k, r]) => [k, r.n]))).toEqual(countBy((s) => s.intent));
    expect(Object.fromEntries(Object.entries(report.bySource).map(([k, r]) => [k, r.n]))).toEqual(countBy(sourceFamily));
    for (const r of Object.values(report.byIntent)) expect(r.adapterShare).toBeGreaterThanOrEqual(0);
    expect(report.latencyMs.p50).toBeGreaterThan(0);
    expect(report.latencyMs.p95).toBeGreaterThanOrEqual(report.latencyMs.p50);
    expect(stdout).toMatch(/decision latency: p50/);
  });
});
