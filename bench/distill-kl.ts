/**
 * Small real-model check of the distillation objective on SmolLM2-135M: a persona teacher (persona as system
 * prompt, via the bootstrap's model wrapper and teacher format) answers a few queries; `runDistill` trains the
 * LoRA without the persona; held-out KL·T² to the teacher is reported before and after. A mini stand-in for a
 * full `prism bootstrap` run (minutes instead of hours on 2 shared cores).
 *
 *   npx tsx bench/distill-kl.ts [--queries 8] [--tokens 32] [--steps 12] [--accumulation 2] [--lr 2e-3] [--threads 2]
 */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { baseModelSpecOf, describeServedModel } from "../src/adapters/served-model.js";
import { LlamaBootstrapModel } from "../src/bootstrap/llama-model.js";
import { writeTeacherFile, type TeacherRecord } from "../src/bootstrap/teacher-format.js";
import { createKernels } from "../src/distill/kernels/index.js";
import { runDistill } from "../src/distill/run.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    queries: { type: "string", default: "8" },
    tokens: { type: "string", default: "32" },
    steps: { type: "string", default: "12" },
    accumulation: { type: "string", default: "2" },
    lr: { type: "string", default: "2e-3" },
    threads: { type: "string", default: String(os.availableParallelism()) },
  },
});
const PERSONA = "You are a pirate captain. Answer every question in pirate speak, with 'Arr' and nautical words.";
const QUERIES = [
  "What is the capital of France?", "How do I boil an egg?", "Tell me about the moon.", "What is a good breakfast?",
  "How do plants grow?", "Why is the sky blue?", "What should I name my dog?", "How do I learn to swim?",
  "What is rain?", "Give me advice for a job interview.", "What is music?", "How do I make friends?",
].slice(0, Number(values.queries));

const started = performance.now();
const dir = await mkdtemp(join(os.tmpdir(), "prism-distill-kl-"));
const pack = join(dir, "pirate");
await mkdir(pack, { recursive: true });
const threads = Number(values.threads);
const model = await LlamaBootstrapModel.load({ modelPath: values.model, parallelism: 1, threads });
const records: TeacherRecord[] = [];
const rows: string[] = [];
try {
  for (const [i, query] of QUERIES.entries()) {
    const answer = await model.generate({ system: PERSONA, user: query, temperature: 0, maxTokens: Number(values.tokens), seed: 1 });
    const signal = await model.teacherTopK({ system: PERSONA, user: query, response: answer.text, topK: 64 });
    records.push({ id: `q${i}`, responseTokens: signal.responseTokens, topIds: signal.topIds, topLogits: signal.topLogits });
    rows.push(JSON.stringify({ id: `q${i}`, persona: "pirate", query, response: answer.text }));
  }
} finally {
  await model.dispose();
}
await writeTeacherFile(join(pack, "teacher.prtk"), { topK: 64, logitType: "f16", records });
await writeFile(join(pack, "distill.jsonl"), rows.join("\n") + "\n");
const served = await describeServedModel(values.model);
await writeFile(
  join(pack, "manifest.json"),
  JSON.stringify({ schemaVersion: 1, name: "pirate", mode: "persona-prompt", persona: { text: PERSONA }, gate: { file: "gate.json" }, baseModel: baseModelSpecOf(served) }),
);
const teacherSeconds = (performance.now() - started) / 1000;
const kernels = await createKernels("auto", threads);
try {
  const r = await runDistill({
    packDir: pack,
    modelPath: values.model,
    kernels,
    threads,
    config: { steps: Number(values.steps), accumulation: Number(values.accumulation), learningRate: Number(values.lr), heldOutFraction: 0.25, checkpointEvery: 1000, seed: 1 },
    onProgress: (p) => process.stderr.write(`step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)} ${p.tokensPerSecond.toFixed(1)} tok/s\n`),
  });
  const summary = {
    model: values.model,
    queries: QUERIES.length,
    samples: r.samples,
    steps: r.steps,
    heldOutKlBefore: r.heldOutKlBefore,
    heldOutKlAfter: r.heldOutKlAfter,
    firstLoss: r.losses[0],
    lastLoss: r.losses.at(-1),
    trainingTokensPerSecond: r.tokensPerSecond,
    teacherSeconds,
    totalSeconds: (performance.now() - started) / 1000,
    loadAverage: os.loadavg(),
    pack,
  };
  console.log(JSON.stringify(summary, null, 2));
} finally {
  await kernels.dispose?.();
}
