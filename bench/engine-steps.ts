/**
 * Forward passes per decode step (issue #10): the product's batch order (src/engine/batch-order.ts, sequences in
 * ascending id order) vs node-llama-cpp's own order (the order the sequences asked), side by side on one model,
 * with the product's slot choice (src/engine/context-pool.ts) and step alignment (step-barrier.ts) in both.
 *
 * llama.cpp with one KV stream per sequence (node-llama-cpp's `kv_unified = false`) splits each batch into one
 * forward pass per run of consecutive ascending sequence ids. This bench counts those passes by reading every
 * batch node-llama-cpp hands to its native context (a proxy over the context's internal `_ctx`: a diagnostic,
 * not product code) and replaying llama.cpp's split rule on it, and times each decode call.
 *
 * Rounds are interleaved (order alternates) and the requests are bench/lib/load.ts's distinct prompts, greedy.
 *
 *   npx tsx bench/engine-steps.ts [--model PATH] [--concurrency 4,8] [--rounds 3] [--tokens 64] [--json out.json]
 */
import os from "node:os";
import { parseArgs } from "node:util";
import writeFileAtomic from "write-file-atomic";
import { getLlama, LlamaLogLevel, type LlamaContext, type LlamaModel, type Token } from "node-llama-cpp";
import { prioritizationFor, queuedSequenceIds, type SequenceIdsOf } from "../src/engine/batch-order.js";
import { ContextPool } from "../src/engine/context-pool.js";
import type { StepMember } from "../src/engine/step-barrier.js";
import { distinctPrompt } from "./lib/load.js";
import { median } from "./lib/stats.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    concurrency: { type: "string", default: "4,8" },
    rounds: { type: "string", default: "3" },
    tokens: { type: "string", default: "64" },
    "prompt-words": { type: "string", default: "150" },
    threads: { type: "string", default: String(os.availableParallelism()) },
    json: { type: "string" },
  },
});
const CONCURRENCY = values.concurrency!.split(",").map(Number);
const SLOTS = Math.max(...CONCURRENCY);
const TOKENS = Number(values.tokens);
const THREADS = Number(values.threads);
/** The product default (src/config/sections/engine.ts). */
const STEP_ALIGN_MAX_WAIT_MS = 100;

/** One batch as node-llama-cpp handed it over: (sequence id, token count) in batch order. */
type Batch = { seq: number; tokens: number }[];

/**
 * How many forward passes llama.cpp runs for `batch` with one KV stream per sequence (llama_batch_allocr::
 * split_equal, sequential): each pass takes a run of consecutive ascending sequence ids in batch order and the
 * same number of tokens from each, at most `ubatch` tokens in all.
 */
function forwardPasses(batch: Batch, ubatch = 512): number {
  const left = batch.map((b) => ({ ...b }));
  let passes = 0;
  while (left.some((b) => b.tokens > 0)) {
    const run: typeof left = [];
    for (const b of left) if (b.tokens > 0 && (run.length === 0 || b.seq === run[run.length - 1]!.seq + 1)) run.push(b);
    const each = Math.max(1, Math.min(Math.min(...run.map((b) => b.tokens)), Math.floor(ubatch / run.length)));
    for (const b of run) b.tokens -= Math.min(each, b.tokens);
    passes++;
  }
  return passes;
}

interface Recorder {
  batches: { batch: Batch; ms: number }[];
}

/** Records every batch of `context` (sequence ids, token counts) and the time of its decode call. */
function record(context: LlamaContext, recorder: Recorder): void {
  const native = (context as unknown as { _ctx: Record<string, (...args: unknown[]) => unknown> })._ctx;
  let current: Batch = [];
  const wrapped: Record<string, (...args: unknown[]) => unknown> = {
    addToBatch: (seq, first, tokens, logits) => {
      current.push({ seq: seq as number, tokens: (tokens as Uint32Array).length });
      return native.addToBatch!.call(native, seq, first, tokens, logits);
    },
    decodeBatch: async () => {
      const batch = current;
      current = [];
      const started = performance.now();
      const result = await native.decodeBatch!.call(native);
      recorder.batches.push({ batch, ms: performance.now() - started });
      return result;
    },
  };
  (context as unknown as { _ctx: unknown })._ctx = new Proxy(native, {
    get: (target, key) => (typeof key === "string" && key in wrapped ? wrapped[key] : typeof target[key as string] === "function" ? target[key as string]!.bind(target) : target[key as string]),
  });
}

type Order = "sequence-id" | "as-asked";

async function variant(model: LlamaModel, order: Order) {
  let context: LlamaContext | null = null;
  const ids: SequenceIdsOf = order === "sequence-id" ? queuedSequenceIds(() => context) : () => null;
  context = await model.createContext({ contextSize: 1024 * SLOTS, sequences: SLOTS, threads: THREADS, batching: { itemPrioritizationStrategy: prioritizationFor("parallel", ids) } });
  const recorder: Recorder = { batches: [] };
  record(context, recorder);
  return { order, context, pool: new ContextPool(null, context, SLOTS, STEP_ALIGN_MAX_WAIT_MS), recorder };
}

async function generate(model: LlamaModel, pool: ContextPool, prompt: string): Promise<number> {
  const tokens = [model.tokens.bos!, ...model.tokenize(prompt, false)] as Token[];
  const sequence = await pool.acquire(60_000, undefined, tokens);
  try {
    await sequence.clearHistory();
    let n = 0;
    // In step with the context's other generations, as src/engine/llama-engine.ts does (step-barrier.ts).
    let aligned: StepMember | null = null;
    try {
      for await (const token of sequence.evaluate(tokens, { temperature: 0 })) {
        if (aligned) aligned.returned();
        else aligned = pool.steps?.join() ?? null;
        if (model.isEogToken(token) || ++n >= TOKENS) break;
        if (aligned) await aligned.arrive();
      }
    } finally {
      aligned?.leave();
    }
    return n;
  } finally {
    pool.release(sequence);
  }
}

const llama = await getLlama({ gpu: false, maxThreads: 0, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: values.model! });
const variants = [await variant(model, "sequence-id"), await variant(model, "as-asked")];
const samples: { order: Order; concurrency: number; round: number; tokPerSec: number; passesPerStep: number; stepMs: number; splitSteps: number; steps: number }[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  for (const v of round % 2 ? [...variants].reverse() : variants) {
    for (const concurrency of CONCURRENCY) {
      v.recorder.batches = [];
      const started = performance.now();
      const counts = await Promise.all(
        Array.from({ length: concurrency }, (_, i) => generate(model, v.pool, distinctPrompt({ round, concurrency, index: i }, Number(values["prompt-words"])))),
      );
      const wallMs = performance.now() - started;
      const steps = v.recorder.batches.filter((b) => b.batch.length > 1 && b.batch.every((e) => e.tokens === 1));
      const passes = steps.map((s) => forwardPasses(s.batch));
      samples.push({
        order: v.order,
        concurrency,
        round,
        tokPerSec: (counts.reduce((a, b) => a + b, 0) / wallMs) * 1000,
        passesPerStep: passes.reduce((a, b) => a + b, 0) / Math.max(1, passes.length),
        stepMs: median(steps.map((s) => s.ms)),
        splitSteps: passes.filter((p) => p > 1).length,
        steps: steps.length,
      });
    }
  }
}
for (const v of variants) await v.pool.dispose();
await model.dispose();
await llama.dispose();

const rows = CONCURRENCY.flatMap((concurrency) =>
  (["sequence-id", "as-asked"] as const).map((order) => {
    const of = samples.filter((s) => s.order === order && s.concurrency === concurrency);
    return {
      order,
      concurrency,
      tokPerSec: median(of.map((s) => s.tokPerSec)),
      passesPerStep: median(of.map((s) => s.passesPerStep)),
      stepMs: median(of.map((s) => s.stepMs)),
      splitShare: of.reduce((a, s) => a + s.splitSteps, 0) / Math.max(1, of.reduce((a, s) => a + s.steps, 0)),
    };
  }),
);
const result = { model: values.model, threads: THREADS, tokens: TOKENS, rounds: Number(values.rounds), rows, samples };
console.log(JSON.stringify(result));
console.log("\norder         conc  tok/s   passes/step  step ms  steps split");
for (const r of rows) {
  console.log(`${r.order.padEnd(12)} ${String(r.concurrency).padStart(5)}  ${r.tokPerSec.toFixed(1).padStart(5)}  ${r.passesPerStep.toFixed(2).padStart(11)}  ${r.stepMs.toFixed(1).padStart(7)}  ${(100 * r.splitShare).toFixed(0).padStart(10)}%`);
}
if (values.json) await writeFileAtomic(values.json, JSON.stringify(result, null, 2));
