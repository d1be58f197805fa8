/**
 * Batch order: which queued tokens go into a decode batch, and that they go in ascending sequence id order
 * (llama.cpp splits a batch into one forward pass per run of consecutive ascending ids). The last tests run
 * node-llama-cpp itself on the fixture model, so an upgrade that changes what `queuedSequenceIds` reads fails
 * here instead of silently costing a forward pass per sequence.
 */
import type { BatchItem, CustomBatchingPrioritizationStrategy, Llama, LlamaContext, LlamaModel, Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dispatchWhenBusyQueued, evenShare, generationFirst, inSequenceOrder, prioritizationFor, queuedSequenceIds } from "../../src/engine/batch-order.js";
import { ContextPool } from "../../src/engine/context-pool.js";
import { getTestLlama, TEST_THREADS } from "../helpers/llama.js";
import { fixturePaths } from "../helpers/paths.js";

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
    expect(order.map((o) => o.processAmount)).toEqual([1, 1, 300, 120]);
  });

  it("even share: every item gets its share, what short items leave goes to the long ones", () => {
    const items = [item(400), item(1), item(300), item(1)];
    const shares = evenShare({ items, size: 512 });
    expect(shares.map((s) => s.processAmount)).toEqual([255, 1, 255, 1]);
    expect(evenShare({ items: [item(40), item(40)], size: 512 }).map((s) => s.processAmount)).toEqual([40, 40]);
    // More items than batch slots: one token each while the batch lasts.
    expect(evenShare({ items: [item(5), item(5), item(5)], size: 2 }).map((s) => s.processAmount)).toEqual([1, 1]);
  });

  it("puts the chosen tokens in ascending sequence id order, clipped to the batch in the strategy's order", () => {
    const [promptA, genA, promptB, genB] = [item(300), item(1), item(300), item(1)];
    const ids = [5, 3, 1, 4];
    const ordered = inSequenceOrder(generationFirst, () => ids)({ items: [promptA!, genA!, promptB!, genB!], size: 512 });
    // generation-first keeps both generating tokens and prompt A whole; prompt B gets the rest of the batch.
    expect(ordered.map((o) => [o.item, o.processAmount])).toEqual([
      [promptB, 210],
      [genA, 1],
      [genB, 1],
      [promptA, 300],
    ]);
    // Without ids the strategy's own order stands.
    const unordered = inSequenceOrder(generationFirst, () => null)({ items: [promptA!, genA!], size: 512 });
    expect(unordered.map((o) => o.item)).toEqual([genA, promptA]);
  });

  it("trusts queued sequence ids only when the items are node-llama-cpp's own queued token arrays", () => {
    const items = [item(3), item(1)];
    const context = { _queuedDecodes: [{ sequenceId: 7, tokens: items[0]!.tokens }, { sequenceId: 2, tokens: items[1]!.tokens }] };
    const read = queuedSequenceIds(() => context as unknown as LlamaContext);
    expect(read(items)).toEqual([7, 2]);
    expect(read([item(3), item(1)])).toBeNull();
    expect(read(items.slice(0, 1))).toBeNull();
    expect(queuedSequenceIds(() => null)(items)).toBeNull();
  });

  it("dispatches at once when every busy sequence has queued, else on the next event-loop turn", async () => {
    const context = { _queuedDecodes: [{ sequenceId: 0, tokens: [] }, { sequenceId: 1, tokens: [] }] } as unknown as LlamaContext;
    const dispatchedNow = (busy: number, of: LlamaContext | null = context): boolean => {
      let now = false;
      dispatchWhenBusyQueued(() => of, () => busy)(() => (now = true));
      return now;
    };
    expect(dispatchedNow(2)).toBe(true);
    expect(dispatchedNow(1)).toBe(true);
    expect(dispatchedNow(3)).toBe(false);
    expect(dispatchedNow(1, null)).toBe(false);
    const later = await new Promise<boolean>((resolve) => dispatchWhenBusyQueued(() => context, () => 3)(() => resolve(true)));
    expect(later).toBe(true);
  });
});

describe("batch order on node-llama-cpp (fixture model)", () => {
  let llama: Llama;
  let model: LlamaModel;
  beforeAll(async () => {
    llama = await getTestLlama();
    model = await llama.loadModel({ modelPath: fixturePaths().modelPath });
  });
  afterAll(async () => {
    await model.dispose();
    await llama.dispose();
  });

  it("reads node-llama-cpp's queue when it schedules a batch: one busy sequence's steps go at once", async () => {
    const generateWith = async (busy: number): Promise<boolean[]> => {
      let context: LlamaContext | null = null;
      const atOnce: boolean[] = [];
      const schedule = dispatchWhenBusyQueued(() => context, () => busy);
      context = await model.createContext({
        contextSize: 256,
        sequences: 2,
        threads: TEST_THREADS,
        batching: {
          dispatchSchedule: (dispatch) => {
            let now = false;
            schedule(() => {
              now = true;
              dispatch();
            });
            atOnce.push(now);
          },
        },
      });
      try {
        let n = 0;
        for await (const _ of context.getSequence().evaluate(model.tokenize("one two three"), { temperature: 0 })) if (++n >= 4) break;
        return atOnce;
      } finally {
        await context.dispose();
      }
    };
    const oneBusy = await generateWith(1);
    expect(oneBusy.length).toBeGreaterThanOrEqual(4);
    expect(oneBusy.every(Boolean)).toBe(true);
    // Another sequence counted busy but not queued: every step waits for the next turn, and generation still runs.
    const twoBusy = await generateWith(2);
    expect(twoBusy.length).toBeGreaterThanOrEqual(4);
    expect(twoBusy.some(Boolean)).toBe(false);
  });

  it("every batch of sequences that ask out of order goes in ascending sequence id order", async () => {
    const batches: number[][] = [];
    let context: LlamaContext | null = null;
    const ids = queuedSequenceIds(() => context);
    const recording: CustomBatchingPrioritizationStrategy = (batch) => {
      const chosen = prioritizationFor("parallel", ids)(batch);
      const idOf = new Map(batch.items.map((it, i) => [it, ids(batch.items)?.[i] ?? -1]));
      batches.push(chosen.map((c) => idOf.get(c.item)!));
      return chosen;
    };
    context = await model.createContext({ contextSize: 256, sequences: 3, threads: TEST_THREADS, batching: { itemPrioritizationStrategy: recording } });
    try {
      const sequences = [context.getSequence(), context.getSequence(), context.getSequence()];
      const generate = async (at: number, prompt: string): Promise<void> => {
        let n = 0;
        for await (const _ of sequences[at]!.evaluate(model.tokenize(prompt), { temperature: 0 })) if (++n >= 6) break;
      };
      // Asked in the order 2, 0, 1, with prompts of different lengths so they leave prefill at different steps.
      await Promise.all([generate(2, "one two three four five"), generate(0, "a b"), generate(1, "hello there friend")]);
      const multi = batches.filter((b) => b.length > 1);
      expect(multi.length).toBeGreaterThan(3);
      for (const batch of multi) {
        expect(batch).not.toContain(-1);
        expect(batch).toEqual([...batch].sort((a, b) => a - b));
      }
    } finally {
      await context.dispose();
    }
  });

  it("the pool hands out the lowest free sequence when no cached prefix decides", async () => {
    const context = await model.createContext({ contextSize: 256, sequences: 3, threads: TEST_THREADS });
    const pool = new ContextPool(null, context, 3);
    try {
      const [first, second, third] = [await pool.acquire(1000, undefined), await pool.acquire(1000, undefined), await pool.acquire(1000, undefined)];
      pool.release(first);
      pool.release(third);
      // A most-recently-used pick would take the third; the first keeps busy sequences' ids consecutive.
      expect(await pool.acquire(1000, undefined, model.tokenize("unrelated"))).toBe(first);
      pool.release(second);
      expect(await pool.acquire(1000, undefined)).toBe(second);
      // A sequence whose cache holds most of the prompt wins over the lowest free one; a few shared tokens do not.
      const conversation = model.tokenize("The first turn of a conversation that goes on for a while. ".repeat(4));
      await third.evaluateWithoutGeneratingNewTokens(conversation); // the third is free (released above)
      pool.release(first);
      pool.release(second);
      expect(await pool.acquire(1000, undefined, [...conversation, ...model.tokenize(" And the next turn.")])).toBe(third);
      expect(await pool.acquire(1000, undefined, [...conversation.slice(0, 3), ...model.tokenize(" something else entirely, and longer")])).toBe(first);
    } finally {
      await pool.dispose();
    }
  });
});
