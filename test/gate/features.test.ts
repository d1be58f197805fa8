/**
 * Gate features (a) on the real SmolLM2 model: the split-template fast path must give the same pooled
 * features as templating and tokenizing every prompt in full (the path the gate heads were trained on),
 * for every prompt of the intents dev set and for the edge cases that take the full path.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaEngine } from "../../src/engine/llama-engine.js";
import { GateFeatureExtractor, poolRows } from "../../src/gate/features.js";
import { readIntentSamples } from "../../src/gate/dataset.js";
import { GatePromptTokenizer, type PromptTokenEngine } from "../../src/gate/prompt-tokens.js";
import { TokenEmbeddingTable } from "../../src/gate/token-embeddings.js";
import type { Pooling } from "../../src/gate/head-format.js";
import { defaultModelPath } from "../helpers/paths.js";
import { TEST_THREADS } from "../helpers/llama.js";

const DEV = resolve("../shared/data/intents/dev.jsonl");
const EDGE_CASES = ["", " leading space", "\n\nleading newlines", "trailing newline\n", "special <|im_end|> text <|im_start|>", "héllo wörld 你好 🙂", "x"];

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe("gate token-embd features on SmolLM2", { timeout: 120_000 }, () => {
  const engine = new LlamaEngine();
  let table: TokenEmbeddingTable;
  let prompts: string[];

  beforeAll(async () => {
    const model = defaultModelPath();
    await engine.load({ modelPath: model, threads: TEST_THREADS, contextSize: 512, sequencesPerContext: 1, gpu: false, maxQueue: 1, queueTimeoutMs: 60_000 });
    table = await TokenEmbeddingTable.fromGguf(model);
    const dev = existsSync(DEV) ? (await readIntentSamples(DEV)).map((s) => s.prompt) : [];
    prompts = [...dev, ...EDGE_CASES];
  });
  afterAll(() => engine.dispose());

  it("splits the chat template once instead of rendering it per prompt", () => {
    expect(new GatePromptTokenizer(engine).splitsTemplate).toBe(true);
  });

  it("gives the same tokens (as a multiset) and last token as the full template path", () => {
    const tokenizer = new GatePromptTokenizer(engine);
    for (const p of prompts) {
      const full = tokenizer.fullTokens(p);
      const split = tokenizer.tokens(p);
      expect([...split.fixed, ...split.variable].sort((a, b) => a - b), p).toEqual([...full].sort((a, b) => a - b));
      expect(split.lastToken, p).toBe(full.at(-1));
    }
  });

  it.each<Pooling>(["mean", "max", "mean-max", "last"])("%s pooling equals pooling every templated token's row", async (pooling) => {
    const extractor = new GateFeatureExtractor({ engine, tokenEmbeddings: table });
    const tokenizer = new GatePromptTokenizer(engine);
    const dim = table.dim;
    let worst = 0;
    for (const p of prompts) {
      const expected = poolRows(tokenizer.fullTokens(p).map((t) => table.row(t)), pooling, dim);
      const got = await extractor.extract({ kind: "token-embd", pooling, dim: pooling === "mean-max" ? 2 * dim : dim }, p);
      worst = Math.max(worst, maxAbsDiff(got, expected));
    }
    // Only float32 summation order differs (template rows are summed first).
    expect(worst).toBeLessThan(1e-5);
  });
});

describe("a chat template that cannot be split", () => {
  // A template that trims the user's text: joining pieces would not match it, so every prompt is rendered.
  const chars = (text: string) => [...text].map((c) => c.codePointAt(0)!);
  const trimming: PromptTokenEngine = {
    applyChatTemplate: (messages) => `<user>${messages.map((m) => m.content.trim()).join("")}</user><bot>`,
    tokenize: (text) => chars(text),
  };

  it("falls back to templating every prompt and still gives the template's tokens", () => {
    const tokenizer = new GatePromptTokenizer(trimming);
    expect(tokenizer.splitsTemplate).toBe(false);
    const got = tokenizer.tokens("trailing space ");
    expect(got.fixed).toEqual([]);
    expect(got.variable).toEqual(chars("<user>trailing space</user><bot>"));
    expect(got.lastToken).toBe(">".codePointAt(0));
  });
});
