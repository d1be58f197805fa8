/**
 * Does a distilled LoRA move the model, without the persona prompt, toward the persona's answers? For every judged
 * pair of a bootstrap run, the engine (node-llama-cpp, what the gateway serves with) scores the persona answer and
 * the baseline answer after the no-persona student prompt, once on the base model and once with the pack's LoRA:
 * mean log-probability per answer token over the first --tokens tokens. Pairs in the pack's distill set were
 * trained on (or held out by the trainer); the others (the judge kept the baseline) were never seen in training.
 *
 *   npx tsx bench/distill-eval.ts --pack runs/packs/expert-lora --run-dir runs/smollm2-distill [--tokens 64] [--json out.json]
 */
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type ControlledEvaluateInputItem, type LlamaContext, type Token, getLlama } from "node-llama-cpp";
import { loadPromptTokenizer } from "../src/distill/train/prompt-tokenizer.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    pack: { type: "string" },
    "run-dir": { type: "string" },
    tokens: { type: "string", default: "64" },
    threads: { type: "string", default: String(os.availableParallelism()) },
    json: { type: "string" },
  },
});
if (!values.pack || !values["run-dir"]) throw new Error("--pack and --run-dir are required");
const threads = Number(values.threads);
const maxTokens = Number(values.tokens);

interface Judged {
  key: string;
  value: { query: string; set: string; baseline: { text: string }; withPersona: { text: string; tokenIds?: number[] } };
}
const judged = (await readFile(join(values["run-dir"], "judged.jsonl"), "utf8"))
  .split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Judged);
const distillIds = new Set(
  (await readFile(join(values.pack, "distill.jsonl"), "utf8")).split("\n").filter((l) => l.trim() !== "").map((l) => (JSON.parse(l) as { id: string }).id),
);
// An interrupted stage may have appended a key twice; the last record wins, as in the stage runner.
const records = [...new Map(judged.map((j) => [j.key, j])).values()]
  .filter((j) => j.value.baseline.text !== "" && j.value.withPersona.text !== "");

const tokenizer = await loadPromptTokenizer(values.model, threads);
const items = records.map((j) => ({
  key: j.key,
  inDistill: distillIds.has(j.key),
  prompt: tokenizer.studentPrompt(j.value.query),
  persona: (j.value.withPersona.tokenIds ?? tokenizer.tokenize(j.value.withPersona.text)).slice(0, maxTokens),
  baseline: tokenizer.tokenize(j.value.baseline.text).slice(0, maxTokens),
}));
await tokenizer.dispose();

/** Mean log p(answer token | prompt, earlier answer tokens) through the engine. */
async function meanLogProb(context: LlamaContext, prompt: number[], answer: number[]): Promise<number> {
  const sequence = context.getSequence();
  try {
    const tokens = [...prompt, ...answer.slice(0, -1)];
    const input: ControlledEvaluateInputItem[] = tokens.map((t, i) =>
      i >= prompt.length - 1 ? [t as Token, { generateNext: { logits: true } }] : (t as Token),
    );
    const out = await sequence.controlledEvaluate(input);
    let sum = 0;
    for (let j = 0; j < answer.length; j++) {
      const logits = out[prompt.length - 1 + j]?.next.logits;
      if (logits === undefined) throw new Error(`no logits at answer token ${j}`);
      let max = -Infinity;
      for (const v of logits.values()) if (v > max) max = v;
      let z = 0;
      for (const v of logits.values()) z += Math.exp(v - max);
      sum += (logits.get(answer[j] as Token) ?? -Infinity) - max - Math.log(z);
    }
    return sum / answer.length;
  } finally {
    await sequence.dispose();
  }
}

const started = performance.now();
const llama = await getLlama({ gpu: false, maxThreads: threads, build: "never" });
const model = await llama.loadModel({ modelPath: values.model });
const base = await model.createContext({ contextSize: 2048, threads });
const adapted = await model.createContext({ contextSize: 2048, threads, lora: { adapters: [{ filePath: join(values.pack, "lora.gguf"), scale: 1 }] } });
const rows: { key: string; inDistill: boolean; persona: { base: number; lora: number }; baseline: { base: number; lora: number } }[] = [];
try {
  for (const it of items) {
    if (it.persona.length < 2 || it.baseline.length < 2) continue;
    rows.push({
      key: it.key,
      inDistill: it.inDistill,
      persona: { base: await meanLogProb(base, it.prompt, it.persona), lora: await meanLogProb(adapted, it.prompt, it.persona) },
      baseline: { base: await meanLogProb(base, it.prompt, it.baseline), lora: await meanLogProb(adapted, it.prompt, it.baseline) },
    });
    process.stderr.write(`${rows.length}/${items.length} ${it.key}\n`);
  }
} finally {
  await adapted.dispose();
  await base.dispose();
  await model.dispose();
  await llama.dispose();
}

const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
const summarise = (group: typeof rows) => ({
  pairs: group.length,
  personaAnswerLogProb: { base: mean(group.map((r) => r.persona.base)), lora: mean(group.map((r) => r.persona.lora)) },
  baselineAnswerLogProb: { base: mean(group.map((r) => r.baseline.base)), lora: mean(group.map((r) => r.baseline.lora)) },
  /** Pairs where the LoRA raised the persona answer's likelihood more than the baseline answer's. */
  movedTowardPersona: group.filter((r) => r.persona.lora - r.persona.base > r.baseline.lora - r.baseline.base).length,
});
const summary = {
  model: values.model,
  pack: values.pack,
  tokensScored: maxTokens,
  distillSet: summarise(rows.filter((r) => r.inDistill)),
  notInDistillSet: summarise(rows.filter((r) => !r.inDistill)),
  seconds: (performance.now() - started) / 1000,
  rows,
};
console.table(
  (["distillSet", "notInDistillSet"] as const).map((g) => ({
    group: g,
    pairs: summary[g].pairs,
    "persona base": summary[g].personaAnswerLogProb.base.toFixed(3),
    "persona +LoRA": summary[g].personaAnswerLogProb.lora.toFixed(3),
    "baseline base": summary[g].baselineAnswerLogProb.base.toFixed(3),
    "baseline +LoRA": summary[g].baselineAnswerLogProb.lora.toFixed(3),
    "moved toward persona": `${summary[g].movedTowardPersona}/${summary[g].pairs}`,
  })),
);
if (values.json) await writeFile(values.json, JSON.stringify(summary, null, 2) + "\n");
