import type { BatchItem, Token } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { generationFirst, prioritizationFor } from "../../src/engine/batch-order.js";

const item = (tokens: number): BatchItem => ({
  tokens: Array.from({ length: tokens }, (_, i) => i as Token),
  logits: Array.from({ length: tokens }, (_, i) => (i === tokens - 1 ? true : undefined)),
  evaluationPriority: 5,
});

describe("batch order", () => {
  it("generation-first: generating sequences' tokens first, then whole prompts in arrival order", () => {
    const [promptA, genA, promptB, genB] = [item(300), item(1), item(120), item(1)];
    const order = generationFirst({ items: [promptA!, genA!, promptB!, genB!], size: 512 });
    expect(order.map((o) => o.item)).toEqual([genA, genB, promptA, promptB]);
    // node-llama-cpp clips to the batch: prompt A takes what is left after the generating tokens, B waits.
    expect(order.map((o) => o.processAmount)).toEqual([1, 1, 300, 120]);
  });

  it("maps the config value to node-llama-cpp's strategy", () => {
    expect(prioritizationFor("generation-first")).toBe(generationFirst);
    expect(prioritizationFor("parallel")).toBe("maximumParallelism");
  });
});
