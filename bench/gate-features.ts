/**
 * Gate feature quality vs latency on a labelled intents set (default: ../shared/data/intents/dev.jsonl)
 * with SmolLM2-135M: per feature kind, extraction p50/p95 and a 5-fold cross-validated logistic probe
 * (apply = generative|safety vs discriminative). EVALUATION ONLY: no probe head is written or served.
 *
 *   npx tsx bench/gate-features.ts            token_embd poolings and the engine embedding
 *   SKIP_ENGINE=1 npx tsx bench/gate-features.ts   token_embd poolings only (fast)
 *   ONLY_ENGINE=1 npx tsx bench/gate-features.ts   engine embedding only
 */
import os from "node:os";
import { LlamaEngine } from "../src/engine/llama-engine.js";
import { GateFeatureExtractor } from "../src/gate/features.js";
import { TokenEmbeddingTable } from "../src/gate/token-embeddings.js";
import { readIntentSamples } from "../src/gate/dataset.js";
import { crossValidatedProbe } from "../src/gate/probe.js";
import { percentile } from "../src/gate/stats.js";
import type { FeatureSpec } from "../src/gate/head-format.js";
const model = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
const engine = new LlamaEngine();
await engine.load({ modelPath: model, threads: os.availableParallelism(), contextSize: 2048, sequencesPerContext: 1, gpu: false, maxQueue: 16, queueTimeoutMs: 60000 });
const table = await TokenEmbeddingTable.fromGguf(model);
const fx = new GateFeatureExtractor({ engine, tokenEmbeddings: table });
const samples = await readIntentSamples(process.env.DATA ?? "../shared/data/intents/dev.jsonl");
const specs: FeatureSpec[] = process.env.ONLY_ENGINE ? [{ kind: "engine-embedding", dim: 576 }] : [
  { kind: "token-embd", pooling: "mean", dim: 576 }, { kind: "token-embd", pooling: "max", dim: 576 },
  { kind: "token-embd", pooling: "mean-max", dim: 1152 }, { kind: "token-embd", pooling: "last", dim: 576 },
  ...(process.env.SKIP_ENGINE ? [] : [{ kind: "engine-embedding", dim: 576 } as FeatureSpec]),
];
const results: Record<string, unknown> = {};
for (const spec of specs) {
  const lat: number[] = []; const rows = [];
  let k = 0; for (const s of samples) { if (++k % 100 === 0) console.error(JSON.stringify(spec), k, Math.round(performance.now())); const t = performance.now(); const f = await fx.extract(spec, s.prompt); lat.push(performance.now() - t); rows.push({ features: f, intent: s.intent }); }
  console.error("probe", Math.round(performance.now()));
  const lr = crossValidatedProbe(rows, spec, { seed: 1, architecture: "logistic", maxEpochs: 60 });
  const name = spec.kind === "token-embd" ? `token-embd/${spec.pooling}` : spec.kind;
  results[name] = { featureMs: { p50: percentile(lat, 50), p95: percentile(lat, 95) }, logistic: lr };
  console.log(name, JSON.stringify(results[name]));
}
await engine.dispose();
