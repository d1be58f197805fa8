/**
 * Routing benchmark on SmolLM2-135M-Instruct:
 *  1. gate decision latency p50/p95 with the default features (token_embd mean pooling), split into
 *     feature extraction and head forward, over distinct prompts (the dev set's prompts used as inputs
 *     only; the benchmark gate, shaped as the bootstrap's default, is trained on the fixture prompt families);
 *  2. base-only generation throughput with no adapters loaded vs with a LoRA pack and a persona-prompt pack
 *     loaded (interleaved rounds, medians). Target: ≤ 1 ms p50 decision; base slowdown ≤ 3%.
 * Numbers from a shared, noisy 2-core machine: compare medians of interleaved rounds only.
 *
 *   npx tsx bench/routing.ts [--prompts 300] [--rounds 4] [--tokens 48] [--json out.json]
 */
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import os, { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FIXTURE_APPLY_PROMPTS, FIXTURE_RETAIN_PROMPTS } from "../src/adapters/fixture-pack.js";
import { baseModelSpecOf, describeServedModel } from "../src/adapters/served-model.js";
import { LlamaEngine } from "../src/engine/llama-engine.js";
import { defaultFeatureSpec, GateFeatureExtractor } from "../src/gate/features.js";
import { createRng, gaussian } from "../src/gate/random.js";
import { percentile } from "../src/gate/stats.js";
import { TokenEmbeddingTable } from "../src/gate/token-embeddings.js";
import { trainCrossFittedGate } from "../src/gate/ensemble.js";
import { loraAdapterGguf } from "../src/gguf/llama.js";
import { writeGguf } from "../src/gguf/writer.js";
import { createPrismRouting } from "../src/routing/stack.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    data: { type: "string", default: "../shared/data/intents/dev.jsonl" },
    prompts: { type: "string", default: "300" },
    rounds: { type: "string", default: "4" },
    tokens: { type: "string", default: "48" },
    json: { type: "string" },
  },
});
const model = values.model!;
const served = await describeServedModel(model);
const spec = defaultFeatureSpec(served.embeddingLength);
const engine = new LlamaEngine();
await engine.load({ modelPath: model, threads: os.availableParallelism(), contextSize: 1024, sequencesPerContext: 1, gpu: false, maxQueue: 4, queueTimeoutMs: 120_000 });
const extractor = new GateFeatureExtractor({ engine, tokenEmbeddings: await TokenEmbeddingTable.fromGguf(model) });

// A pack dir with a LoRA pack (random small LoRA on a few layers) and a persona-prompt pack.
const gate = trainCrossFittedGate(
  [
    ...(await Promise.all(FIXTURE_APPLY_PROMPTS.map(async (p) => ({ features: await extractor.extract(spec, p), label: "apply" })))),
    ...(await Promise.all(FIXTURE_RETAIN_PROMPTS.map(async (p) => ({ features: await extractor.extract(spec, p), label: "retain" })))),
  ],
  // The bootstrap's default gate shape: 5 cross-fitted heads of 64 units, merged into one 320-unit head.
  { features: spec, seed: 1, maxEpochs: 60, hidden: 64, folds: 5 },
);
const adaptersDir = join(await mkdtemp(join(tmpdir(), "prism-bench-")), "adapters");
const rng = createRng(5);
const d = served.embeddingLength;
const rank = 8;
for (const [name, mode] of [["lora-pack", "lora"], ["prompt-pack", "persona-prompt"]] as const) {
  const dir = join(adaptersDir, name);
  await mkdir(dir, { recursive: true });
  if (mode === "lora") {
    const tensors = [1, 2, 3].map((layer) => ({
      target: `blk.${layer}.attn_q.weight`,
      inDim: d,
      outDim: d,
      a: Float32Array.from({ length: d * rank }, () => gaussian(rng) * 0.01),
      b: Float32Array.from({ length: rank * d }, () => gaussian(rng) * 0.01),
    }));
    await writeGguf(join(dir, "adapter.gguf"), loraAdapterGguf({ name: "bench", rank, alpha: 16, tensors }));
  }
  await writeFile(join(dir, "gate.json"), JSON.stringify(gate.file));
  await writeFile(
    join(dir, "manifest.json"),
    JSON.stringify({
      schemaVersion: 1, name, mode, persona: { text: "You are an expert writer." },
      lora: mode === "lora" ? { file: "adapter.gguf" } : null,
      intents: ["generative"], gate: { file: "gate.json" }, baseModel: baseModelSpecOf(served),
    }),
  );
}

// 1. Gate decision latency.
const routing = await createPrismRouting({ engine, modelPath: model, adaptersDir, servedName: "prism" });
const prompts = (await readFile(values.data!, "utf8")).trim().split("\n").map((l) => (JSON.parse(l) as { prompt: string }).prompt).slice(0, Number(values.prompts));
/** CPU idle share over an interval, from /proc/stat (the machine is shared: say how busy it was). */
async function cpuTimes(): Promise<{ idle: number; total: number } | null> {
  const line = (await readFile("/proc/stat", "utf8").catch(() => "")).split("\n")[0] ?? "";
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  return fields.length >= 5 ? { idle: fields[3]! + fields[4]!, total: fields.reduce((a, b) => a + b, 0) } : null;
}
const cpuBefore = await cpuTimes();
const featureMs: number[] = [];
const headMs: number[] = [];
const decisionMs: number[] = [];
// CPU time of the decision (this process, all threads): on a shared machine wall time includes waiting for
// a core, CPU time is what the decision itself costs. No generation runs meanwhile, so engine threads idle.
const decisionCpuMs: number[] = [];
const pack = routing.registry.snapshot()[0]!;
for (const p of prompts) {
  let t = performance.now();
  const f = await extractor.extract(spec, p);
  featureMs.push(performance.now() - t);
  t = performance.now();
  pack.gate.forward(f);
  headMs.push(performance.now() - t);
  const cpu = process.cpuUsage();
  decisionMs.push((await routing.router.decide({ model: "prism", messages: [{ role: "user", content: `${p} ` }] })).decisionMs);
  const used = process.cpuUsage(cpu);
  decisionCpuMs.push((used.user + used.system) / 1000);
}
const cpuAfter = await cpuTimes();
const idleShare = cpuBefore && cpuAfter ? (cpuAfter.idle - cpuBefore.idle) / Math.max(1, cpuAfter.total - cpuBefore.total) : null;
const lat = (v: number[]) => ({ p50: percentile(v, 50), p95: percentile(v, 95) });
const gateResult = { prompts: prompts.length, packs: routing.registry.snapshot().length, idleShare, decisionMs: lat(decisionMs), decisionCpuMs: lat(decisionCpuMs), featureMs: lat(featureMs), headMs: lat(headMs) };

// 2. Base-only throughput with and without adapters loaded (interleaved).
async function baseTokensPerSecond(): Promise<number> {
  const started = performance.now();
  let tokens = 0;
  const gen = await engine.generate({
    kind: "chat", adapter: null, messages: [{ role: "user", content: "Explain what a compiler does." }],
    sampling: { temperature: 0, topP: 1, presencePenalty: 0, frequencyPenalty: 0, maxTokens: Number(values.tokens), stop: [] },
  });
  for await (const e of gen) if (e.type === "done") tokens = e.usage.completionTokens;
  return tokens / ((performance.now() - started) / 1000);
}
const withAdapters: number[] = [];
const without: number[] = [];
await baseTokensPerSecond(); // warm-up
for (let r = 0; r < Number(values.rounds); r++) {
  if (routing.registry.snapshot().length > 0) withAdapters.push(await baseTokensPerSecond());
  for (const p of routing.registry.snapshot()) await routing.registry.remove(p.name);
  without.push(await baseTokensPerSecond());
  await routing.registry.scan();
}
const median = (v: number[]) => percentile(v, 50);
const throughput = {
  rounds: Number(values.rounds),
  tokens: Number(values.tokens),
  baseTokPerSecNoAdapters: { median: median(without), min: Math.min(...without), max: Math.max(...without) },
  baseTokPerSecWithAdapters: { median: median(withAdapters), min: Math.min(...withAdapters), max: Math.max(...withAdapters) },
  slowdownPct: 100 * (1 - median(withAdapters) / median(without)),
};
await routing.close();
await engine.dispose();

const result = { machine: { cpus: os.availableParallelism(), loadavg: os.loadavg() }, gate: gateResult, throughput };
console.log("\nrouting benchmark (SmolLM2-135M-Instruct; shared noisy machine)");
console.log(`gate decision  p50 ${gateResult.decisionMs.p50.toFixed(3)} ms  p95 ${gateResult.decisionMs.p95.toFixed(3)} ms  (${gateResult.packs} packs, ${gateResult.prompts} prompts)`);
console.log(`  CPU time     p50 ${gateResult.decisionCpuMs.p50.toFixed(3)} ms  p95 ${gateResult.decisionCpuMs.p95.toFixed(3)} ms  (what the decision costs, without waiting for a core)`);
console.log(`  machine idle ${idleShare === null ? "?" : `${(100 * idleShare).toFixed(0)}%`} during the decisions (${os.availableParallelism()} cores; this process uses one)`);
console.log(`  features     p50 ${gateResult.featureMs.p50.toFixed(3)} ms  p95 ${gateResult.featureMs.p95.toFixed(3)} ms`);
console.log(`  head forward p50 ${gateResult.headMs.p50.toFixed(3)} ms  p95 ${gateResult.headMs.p95.toFixed(3)} ms`);
console.log(`base tok/s     no adapters ${throughput.baseTokPerSecNoAdapters.median.toFixed(1)}  with adapters ${throughput.baseTokPerSecWithAdapters.median.toFixed(1)}  slowdown ${throughput.slowdownPct.toFixed(1)}%`);
console.log(JSON.stringify(result));
if (values.json) await writeFile(values.json, JSON.stringify(result, null, 2));
