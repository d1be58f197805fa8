/**
 * Gate feature quality vs latency on a labelled intents set (default: ../shared/data/intents/dev.jsonl)
 * with SmolLM2-135M: per feature kind, extraction p50/p95 and a 5-fold cross-validated logistic probe
 * (apply = generative|safety vs discriminative). EVALUATION ONLY: no probe head is written or served.
 *
 * Every feature kind is measured on the same prompts: the whole set, or with `--limit N` a seeded subset
 * stratified by intent (the engine embedding needs a full model pass per prompt, which makes the whole set
 * slow on a shared 2-core machine).
 *
 *   npx tsx bench/gate-features.ts [--features mean,max,mean-max,last,engine] [--limit 200] [--seed 1]
 *                                  [--threads 2] [--data FILE.jsonl] [--json out.json]
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import os from "node:os";
import { parseArgs } from "node:util";
import { LlamaEngine } from "../src/engine/llama-engine.js";
import { readIntentSamples, type IntentSample } from "../src/gate/dataset.js";
import { GateFeatureExtractor } from "../src/gate/features.js";
import type { FeatureSpec } from "../src/gate/head-format.js";
import { crossValidatedProbe } from "../src/gate/probe.js";
import { createRng, shuffleInPlace } from "../src/gate/random.js";
import { percentile } from "../src/gate/stats.js";
import { TokenEmbeddingTable } from "../src/gate/token-embeddings.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    data: { type: "string", default: "../shared/data/intents/dev.jsonl" },
    features: { type: "string", default: "mean,max,mean-max,last,engine" },
    limit: { type: "string" },
    seed: { type: "string", default: "1" },
    threads: { type: "string", default: String(os.availableParallelism()) },
    json: { type: "string" },
  },
});

/** A seeded subset with each intent's share kept (rounded), so accuracies stay comparable to the full set. */
function stratifiedSubset(samples: readonly IntentSample[], limit: number, seed: number): IntentSample[] {
  if (limit >= samples.length) return [...samples];
  const rng = createRng(seed);
  const byIntent = new Map<string, IntentSample[]>();
  for (const s of samples) byIntent.set(s.intent, [...(byIntent.get(s.intent) ?? []), s]);
  const picked: IntentSample[] = [];
  for (const group of byIntent.values()) {
    picked.push(...shuffleInPlace([...group], rng).slice(0, Math.round((limit * group.length) / samples.length)));
  }
  return picked;
}

async function cpuTimes(): Promise<{ idle: number; total: number } | null> {
  const fields = ((await readFile("/proc/stat", "utf8").catch(() => "")).split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  return fields.length >= 5 ? { idle: fields[3]! + fields[4]!, total: fields.reduce((a, b) => a + b, 0) } : null;
}

const model = values.model!;
const threads = Number(values.threads);
const engine = new LlamaEngine();
await engine.load({ modelPath: model, threads, contextSize: 2048, sequencesPerContext: 1, gpu: false, maxQueue: 16, queueTimeoutMs: 600_000 });
const table = await TokenEmbeddingTable.fromGguf(model);
const extractor = new GateFeatureExtractor({ engine, tokenEmbeddings: table });
const all = await readIntentSamples(values.data!);
const samples = values.limit ? stratifiedSubset(all, Number(values.limit), Number(values.seed)) : all;
const d = table.dim;
const specs: FeatureSpec[] = values.features!.split(",").map((name): FeatureSpec => {
  if (name === "engine") return { kind: "engine-embedding", dim: d };
  if (name === "mean" || name === "max" || name === "last") return { kind: "token-embd", pooling: name, dim: d };
  if (name === "mean-max") return { kind: "token-embd", pooling: name, dim: 2 * d };
  throw new Error(`unknown feature '${name}' (mean, max, mean-max, last, engine)`);
});

const results: Record<string, unknown> = {};
for (const spec of specs) {
  const name = spec.kind === "token-embd" ? `token-embd/${spec.pooling}` : spec.kind;
  if (spec.kind === "engine-embedding") await extractor.extract(spec, "warm-up"); // creates the embedding context
  const latencies: number[] = [];
  const rows: { features: Float32Array; intent: string }[] = [];
  const cpu0 = await cpuTimes();
  const started = performance.now();
  for (const s of samples) {
    const t = performance.now();
    rows.push({ features: await extractor.extract(spec, s.prompt), intent: s.intent });
    latencies.push(performance.now() - t);
    if (rows.length % 25 === 0) process.stderr.write(`[gate-features] ${name} ${rows.length}/${samples.length} ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  }
  const cpu1 = await cpuTimes();
  const probe = crossValidatedProbe(rows, spec, { seed: 1, architecture: "logistic", maxEpochs: 60 });
  results[name] = {
    featureMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95) },
    idleShare: cpu0 && cpu1 ? (cpu1.idle - cpu0.idle) / Math.max(1, cpu1.total - cpu0.total) : null,
    logistic: probe,
  };
  console.log(name, JSON.stringify(results[name]));
}
await engine.dispose();

const counts = Object.fromEntries([...new Set(samples.map((s) => s.intent))].map((i) => [i, samples.filter((s) => s.intent === i).length]));
const report = { data: values.data, samples: samples.length, of: all.length, seed: Number(values.seed), intents: counts, threads, cpus: os.availableParallelism(), loadavg: os.loadavg(), results };
console.log("\nfeatures              probe acc  balanced  apply share disc/gen/safety   feature ms p50 / p95   idle");
for (const [name, r] of Object.entries(results) as [string, { featureMs: { p50: number; p95: number }; idleShare: number | null; logistic: { accuracy: number; balancedAccuracy: number; applyShareByIntent: Record<string, number> } }][]) {
  const share = ["discriminative", "generative", "safety"].map((i) => `${(100 * (r.logistic.applyShareByIntent[i] ?? Number.NaN)).toFixed(1)}%`).join(" / ");
  console.log(
    `${name.padEnd(20)}  ${(100 * r.logistic.accuracy).toFixed(1).padStart(8)}%  ${(100 * r.logistic.balancedAccuracy).toFixed(1).padStart(7)}%  ${share.padEnd(30)}  ${r.featureMs.p50.toFixed(2).padStart(9)} / ${r.featureMs.p95.toFixed(2).padEnd(9)}  ${r.idleShare === null ? "?" : `${(100 * r.idleShare).toFixed(0)}%`}`,
  );
}
console.log(JSON.stringify(report));
if (values.json) {
  await writeFile(`${values.json}.tmp`, JSON.stringify(report, null, 2));
  await rename(`${values.json}.tmp`, values.json);
}
