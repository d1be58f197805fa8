/** The engine on the real SmolLM2-135M model: generation, limits, grammar, abort, adapters absent, scoring. */
import os from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContextLengthExceededError, NotFoundError, OverloadedError } from "../../src/errors.js";
import { decodeAheadFor, LlamaEngine } from "../../src/engine/llama-engine.js";
import type { GenerateRequest, GenerationEvent, SamplingParams } from "../../src/engine/types.js";
import { defaultModelPath } from "../helpers/paths.js";
import { TEST_THREADS } from "../helpers/llama.js";

const greedy = (maxTokens: number, stop: string[] = []): SamplingParams => ({
  temperature: 0,
  topP: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  maxTokens,
  stop,
});

async function collect(engine: LlamaEngine, request: GenerateRequest): Promise<GenerationEvent[]> {
  const events: GenerationEvent[] = [];
  for await (const event of await engine.generate(request)) events.push(event);
  return events;
}
const textOf = (events: GenerationEvent[]): string =>
  events.map((e) => (e.type === "text" ? e.text : "")).join("");

describe("LlamaEngine on SmolLM2-135M", () => {
  const engine = new LlamaEngine();
  beforeAll(async () => {
    await engine.load({
      modelPath: defaultModelPath(),
      threads: TEST_THREADS,
      contextSize: 512,
      sequencesPerContext: 2,
      gpu: false,
      maxQueue: 1,
      queueTimeoutMs: 30_000,
    });
  });
  afterAll(() => engine.dispose());

  it("reports model info from the GGUF", () => {
    const info = engine.modelInfo();
    expect(info.architecture).toBe("llama");
    expect(info.embeddingSize).toBe(576);
    expect(info.trainContextSize).toBe(8192);
    expect(info.contextSize).toBeGreaterThanOrEqual(512);
    expect(info.vocabularySize).toBe(49152);
    // "auto" on a CPU with fewer compute threads than cores (the suite runs with half of them).
    expect(info.decodeAhead).toBe(decodeAheadFor("auto", false, TEST_THREADS, os.availableParallelism()));
  });

  it("applies the GGUF's ChatML template with the persona prompt first", () => {
    const text = engine.applyChatTemplate([{ role: "user", content: "hi" }], { systemPrompt: "You are a pirate." });
    expect(text).toContain("<|im_start|>system\nYou are a pirate.<|im_end|>");
    expect(text.endsWith("<|im_start|>assistant\n")).toBe(true);
  });

  it("generates greedily and deterministically, with usage and a length finish", async () => {
    const request: GenerateRequest = {
      kind: "chat",
      adapter: null,
      messages: [{ role: "user", content: "What is the capital of France?" }],
      sampling: greedy(3),
    };
    const first = await collect(engine, request);
    const second = await collect(engine, request);
    expect(first[0]?.type).toBe("started");
    const done = first.at(-1);
    expect(done).toMatchObject({ type: "done", finishReason: "length", usage: { completionTokens: 3 } });
    expect(textOf(first).length).toBeGreaterThan(0);
    expect(textOf(second)).toBe(textOf(first));
  });

  it("serves a conversation's next turn from the sequence that holds its prefix", async () => {
    const chat = (system: string): GenerateRequest => ({
      kind: "chat",
      adapter: null,
      messages: [
        { role: "system", content: system },
        { role: "user", content: "Name one colour." },
      ],
      sampling: greedy(2),
    });
    const usageOf = (events: GenerationEvent[]) => {
      const done = events.at(-1);
      if (done?.type !== "done") throw new Error("no done event");
      return { prompt: done.usage.promptTokens, cached: done.usage.cachedPromptTokens ?? -1 };
    };
    const pirate = chat(`You are a pirate. ${"Arr, the sea is wide and the wind is strong. ".repeat(6)}`);
    const gardener = chat(`You are a gardener. ${"Roses need sun, water and patient care. ".repeat(6)}`);
    // Both sequences get filled, the gardener's last; a most-recently-used pick would now hand the pirate's
    // follow-up the gardener's sequence and evaluate its whole prompt again.
    await collect(engine, pirate);
    await Promise.all([collect(engine, pirate), collect(engine, gardener)]);
    await collect(engine, gardener);
    const again = usageOf(await collect(engine, pirate));
    expect(again.prompt).toBeGreaterThan(60);
    // All but the last prompt token, whose logits start the answer.
    expect(again.cached).toBe(again.prompt - 1);
    const fresh = usageOf(await collect(engine, chat("You are a librarian.")));
    expect(fresh.cached).toBeLessThan(10);
  });

  it("cuts output at a stop sequence and reports stop", async () => {
    const base = await collect(engine, {
      kind: "completion",
      adapter: null,
      prompt: "1, 2, 3, 4,",
      sampling: greedy(12),
    });
    const full = textOf(base);
    const stopAt = full.trim().slice(0, 2);
    const stopped = await collect(engine, {
      kind: "completion",
      adapter: null,
      prompt: "1, 2, 3, 4,",
      sampling: greedy(12, [stopAt]),
    });
    expect(textOf(stopped)).toBe(full.slice(0, full.indexOf(stopAt)));
    expect(stopped.at(-1)).toMatchObject({ type: "done", finishReason: "stop" });
  });

  it("decoding ahead changes no output, and a stop sequence still frees the sequence", async () => {
    const load = async (decodeAhead: boolean): Promise<LlamaEngine> => {
      const loaded = new LlamaEngine();
      await loaded.load({ modelPath: defaultModelPath(), threads: TEST_THREADS, contextSize: 512, sequencesPerContext: 2, gpu: false, maxQueue: 1, queueTimeoutMs: 30_000, decodeAhead });
      return loaded;
    };
    const [ahead, behind] = [await load(true), await load(false)];
    try {
      const prompt = "The three most common colours of cars are";
      const request = (stop: string[] = []): GenerateRequest => ({ kind: "completion", adapter: null, prompt, sampling: greedy(24, stop) });
      // Everything but the timing of the "started" event.
      const output = async (on: LlamaEngine, r: GenerateRequest) => (await collect(on, r)).filter((e) => e.type !== "started");
      const full = await output(ahead, request());
      expect(full).toEqual(await output(behind, request()));
      expect(full.at(-1)).toMatchObject({ type: "done", finishReason: "length", usage: { completionTokens: 24 } });
      // A stop sequence from the middle of the output: both cut at the same place and report stop.
      const text = textOf(full);
      const stopAt = text.slice(Math.floor(text.length / 2)).trim().slice(0, 3);
      const stopped = await output(ahead, request([stopAt]));
      expect(textOf(stopped)).toBe(text.slice(0, text.indexOf(stopAt)));
      expect(stopped).toEqual(await output(behind, request([stopAt])));
      expect(stopped.at(-1)).toMatchObject({ type: "done", finishReason: "stop" });
      // Side by side in one context: the one that stops early leaves the step barrier while its next step waits.
      const together = await Promise.all([output(ahead, request()), output(ahead, request([stopAt]))]);
      expect(together.map((events) => [textOf(events), events.at(-1)])).toMatchObject([
        [textOf(full), { finishReason: "length", usage: { completionTokens: 24 } }],
        [textOf(stopped), { finishReason: "stop" }],
      ]);
      expect(ahead.stats()).toMatchObject({ activeSequences: 0, queueDepth: 0 });
    } finally {
      await Promise.all([ahead.dispose(), behind.dispose()]);
    }
  });

  it("decodes ahead by default only where a core is free while the model computes", () => {
    expect(decodeAheadFor("auto", false, 2, 2)).toBe(false);
    expect(decodeAheadFor("auto", false, 1, 2)).toBe(true);
    expect(decodeAheadFor("auto", "cuda", 8, 8)).toBe(true);
    expect(decodeAheadFor(true, false, 2, 2)).toBe(true);
    expect(decodeAheadFor(false, "metal", 1, 8)).toBe(false);
  });

  it("constrains output to a JSON schema", async () => {
    const events = await collect(engine, {
      kind: "chat",
      adapter: null,
      messages: [{ role: "user", content: "Give a person's name and age as JSON." }],
      sampling: greedy(60),
      responseFormat: {
        type: "json_schema",
        schema: { type: "object", properties: { name: { type: "string" }, age: { type: "integer" } }, required: ["name", "age"] },
      },
    });
    const parsed = JSON.parse(textOf(events)) as { name: unknown; age: unknown };
    expect(typeof parsed.name).toBe("string");
    expect(Number.isInteger(parsed.age)).toBe(true);
  });

  it("forces a tool call with tool_choice required", async () => {
    const events = await collect(engine, {
      kind: "chat",
      adapter: null,
      messages: [{ role: "user", content: "What is the weather in Paris?" }],
      tools: [{ name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }],
      toolChoice: "required",
      sampling: greedy(100),
    });
    const calls = events.find((e) => e.type === "tool_calls");
    expect(calls).toBeDefined();
    if (calls?.type !== "tool_calls") throw new Error("no tool call");
    expect(calls.calls[0]?.name).toBe("get_weather");
    expect(typeof (JSON.parse(calls.calls[0]!.arguments) as { city: unknown }).city).toBe("string");
    expect(events.at(-1)).toMatchObject({ finishReason: "tool_calls" });
  });

  it("returns top logprobs per token when asked", async () => {
    const events = await collect(engine, {
      kind: "completion",
      adapter: null,
      prompt: "The sky is",
      sampling: greedy(3),
      topLogprobs: 2,
    });
    const logprobs = events.flatMap((e) => (e.type === "text" ? (e.logprobs ?? []) : []));
    expect(logprobs).toHaveLength(3);
    for (const lp of logprobs) {
      expect(lp.logprob).toBeLessThanOrEqual(0);
      expect(lp.topLogprobs).toHaveLength(2);
      // Greedy picks the most likely token.
      expect(lp.logprob).toBeCloseTo(lp.topLogprobs[0]!.logprob, 5);
    }
  });

  it("rejects a prompt longer than the context and clips max_tokens to what fits", async () => {
    const long = "word ".repeat(2000);
    await expect(engine.generate({ kind: "completion", adapter: null, prompt: long, sampling: greedy(5) })).rejects.toBeInstanceOf(
      ContextLengthExceededError,
    );
    const generation = await engine.generate({ kind: "completion", adapter: null, prompt: "hi", sampling: greedy(100_000) });
    expect(generation.maxTokens).toBe(engine.modelInfo().contextSize - generation.promptTokens);
    const iterator = generation[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.return?.(undefined);
    expect(engine.stats().activeSequences).toBe(0);
  });

  it("refuses an unknown adapter", async () => {
    await expect(engine.generate({ kind: "completion", adapter: "nope", prompt: "hi", sampling: greedy(2) })).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it("cancels on abort within a token and frees the sequence", async () => {
    const controller = new AbortController();
    const generation = await engine.generate({
      kind: "completion",
      adapter: null,
      prompt: "Once upon a time",
      sampling: greedy(200),
      signal: controller.signal,
    });
    let texts = 0;
    await expect(
      (async () => {
        for await (const event of generation) {
          if (event.type === "text" && ++texts === 2) controller.abort();
        }
      })(),
    ).rejects.toMatchObject({ name: "ClientAbortedError" });
    expect(texts).toBeLessThanOrEqual(3);
    expect(engine.stats()).toMatchObject({ activeSequences: 0, queueDepth: 0 });
  });

  it("bounds the queue: beyond sequences + maxQueue → OverloadedError", async () => {
    const controllers = [new AbortController(), new AbortController(), new AbortController()];
    const make = (c: AbortController) =>
      engine.generate({ kind: "completion", adapter: null, prompt: "Count:", sampling: greedy(50), signal: c.signal });
    const running = await Promise.all(controllers.map(make)); // 2 sequences + 1 queued
    expect(engine.stats().queueDepth).toBe(1);
    await expect(make(new AbortController())).rejects.toBeInstanceOf(OverloadedError);
    for (const c of controllers) c.abort();
    await Promise.all(running.map(async (g) => { try { for await (const _ of g) { /* drain */ } } catch { /* aborted */ } }));
    expect(engine.stats()).toMatchObject({ activeSequences: 0, queueDepth: 0 });
  });

  it("scores a continuation with per-token logprobs and top-k", async () => {
    const result = await engine.scoreContinuation({
      input: { messages: [{ role: "user", content: "What is 2+2? Answer with a number." }] },
      continuation: "4",
      topK: 5,
      adapter: null,
    });
    expect(result.tokens.length).toBeGreaterThan(0);
    expect(result.tokens[0]!.top).toHaveLength(5);
    expect(result.totalLogprob).toBeLessThan(0);
    expect(result.tokens[0]!.top[0]!.logprob).toBeGreaterThanOrEqual(result.tokens[0]!.logprob);
  });

  it("embeds texts as unit vectors of the model's width", async () => {
    const { embeddings, promptTokens } = await engine.embed(["hello world", "the cat sat"]);
    expect(embeddings).toHaveLength(2);
    expect(embeddings[0]!.length).toBe(576);
    expect(Math.hypot(...embeddings[0]!)).toBeCloseTo(1, 4);
    expect(promptTokens).toBeGreaterThan(2);
  });
});
