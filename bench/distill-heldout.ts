/**
 * Per-sample held-out KL of a distilled pack: rebuilds the run's held-out split from the manifest's recorded
 * config (seed, held-out fraction, max length, temperature), reads the written `lora.gguf` back, and prints every
 * held-out sample's KL·T² per response token before (base model) and after (with the LoRA). The token-weighted
 * means must equal the manifest's heldOutKlBefore/After (checked), so the table is the run's own measurement.
 *
 *   npx tsx bench/distill-heldout.ts --pack runs/packs/expert-lora-ho30 [--model PATH] [--threads 2] [--json out.json]
 */
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { WasmKernels } from "../src/distill/kernels/wasm.js";
import { loadStudentWeights } from "../src/distill/model/gguf-student.js";
import { LlamaStudent } from "../src/distill/model/llama.js";
import type { LoraLayer, LoraParams } from "../src/distill/model/lora.js";
import { loraTargets } from "../src/distill/model/shape.js";
import { splitHeldOut } from "../src/distill/run.js";
import { distillConfigSchema } from "../src/distill/train/config.js";
import { type DistillSample, buildSample, loadDistillData } from "../src/distill/train/dataset.js";
import { sampleKl } from "../src/distill/train/micro-step.js";
import { loadPromptTokenizer } from "../src/distill/train/prompt-tokenizer.js";
import { openGguf } from "../src/gguf/index.js";

const { values } = parseArgs({
  options: {
    pack: { type: "string" },
    data: { type: "string" },
    model: { type: "string", default: "models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    threads: { type: "string", default: String(os.availableParallelism()) },
    json: { type: "string" },
  },
});
if (values.pack === undefined) throw new Error("--pack is required");
const manifest = JSON.parse(await readFile(join(values.pack, "manifest.json"), "utf8"));
const recorded = manifest.provenance?.distill;
if (recorded === undefined) throw new Error(`${values.pack}: no provenance.distill (not distilled yet)`);
const config = distillConfigSchema.parse(recorded.config);

const data = await loadDistillData(values.data ?? values.pack);
const tokenizer = await loadPromptTokenizer(values.model, Number(values.threads));
const samples: DistillSample[] = [];
try {
  for (const row of data.rows) {
    const s = buildSample(row.id, tokenizer.studentPrompt(row.query), data.teacher.get(row.id)!, data.topK, config.maxLength);
    if (s !== null) samples.push(s);
  }
} finally {
  await tokenizer.dispose();
}
const { heldOut } = splitHeldOut(samples, config.seed, config.heldOutFraction);

const gguf = await openGguf(join(values.pack, manifest.lora.file));
const weights = await loadStudentWeights(values.model);
const layers: (LoraLayer | null)[] = [];
for (let l = 0; l < weights.shape.layers; l++) {
  if (!gguf.tensors.some((t) => t.name === `blk.${l}.attn_q.weight.lora_a`)) {
    layers.push(null);
    continue;
  }
  const layer = {} as Record<(typeof loraTargets)[number], { a: Float32Array; b: Float32Array }>;
  for (const t of loraTargets) {
    layer[t] = { a: await gguf.readTensor(`blk.${l}.${t}.weight.lora_a`), b: await gguf.readTensor(`blk.${l}.${t}.weight.lora_b`) };
  }
  layers.push(layer);
}
const lora: LoraParams = { rank: config.rank, alpha: gguf.metadata.number("adapter.lora.alpha") ?? config.alpha, layers };
await gguf.close();

const kernels = await WasmKernels.create(Number(values.threads));
const student = new LlamaStudent(weights, kernels);
const rows = heldOut.map((s) => {
  const before = sampleKl(student, null, s, config.temperature);
  const after = sampleKl(student, lora, s, config.temperature);
  return { id: s.id, tokens: before.tokens, before: before.loss / before.tokens, after: after.loss / after.tokens, sumBefore: before.loss, sumAfter: after.loss };
});
await kernels.dispose();
const tokens = rows.reduce((n, r) => n + r.tokens, 0);
const meanBefore = rows.reduce((n, r) => n + r.sumBefore, 0) / tokens;
const meanAfter = rows.reduce((n, r) => n + r.sumAfter, 0) / tokens;
console.table(rows.map((r) => ({ id: r.id, tokens: r.tokens, "KL before": r.before.toFixed(3), "KL after": r.after.toFixed(3), change: `${(100 * (r.after / r.before - 1)).toFixed(0)}%` })));
const lower = rows.filter((r) => r.after < r.before).length;
console.log(`held out ${rows.length} samples, ${tokens} response tokens: KL·T² ${meanBefore.toFixed(4)} → ${meanAfter.toFixed(4)} (token-weighted); lower after on ${lower}/${rows.length}`);
const agrees = (a: number, b: unknown) => typeof b === "number" && Math.abs(a - b) <= 1e-4 * Math.abs(b);
if (!agrees(meanBefore, recorded.heldOutKlBefore) || !agrees(meanAfter, recorded.heldOutKlAfter)) {
  console.error(`does not reproduce the manifest's held-out KL (${recorded.heldOutKlBefore} → ${recorded.heldOutKlAfter}): different split or adapter`);
  process.exitCode = 1;
}
if (values.json) await writeFile(values.json, JSON.stringify({ pack: values.pack, config, rows, meanBefore, meanAfter, lower }, null, 2) + "\n");
