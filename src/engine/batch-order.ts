/**
 * How one decode batch is filled from the sequences' queued tokens, and in which order they go in.
 *
 * Which tokens: "parallel" (the default) shares each batch evenly among everything queued, as node-llama-cpp's
 * "maximumParallelism" does, so simultaneous prompts are prefilled together and stay in step. "generation-first"
 * is llama-server's choice: every generating sequence's next token first, then waiting prompts whole in arrival
 * order, so the first prompts start generating while later ones are still prefilled (lower median TTFT under many
 * simultaneous prompts, fewer tokens/s at 4 concurrent requests: 35.7 vs 42.3, docs/engine.md).
 *
 * In which order: by sequence id, always. Each sequence has its own KV stream (node-llama-cpp sets
 * `kv_unified = false`), and llama.cpp then splits a batch into one forward pass per run of *consecutive,
 * ascending* sequence ids. node-llama-cpp adds tokens in the order the sequences asked, so 8 generating
 * sequences asking as 1,6,2,3,0,5,4,7 cost four full passes over the weights instead of one (measured on
 * SmolLM2 at 2 threads: 70 ms per step instead of ~40; reversed order, eight passes: 82 vs 39 ms).
 *
 * When: node-llama-cpp sends queued tokens on the next event-loop turn (setImmediate), so sequences queuing in
 * the same turn share a batch, and at once only when every sequence of the context has queued. Given which
 * sequences are busy, a batch goes at once when each busy one has queued: nothing else could join it. That
 * starts the decode before the JS work of the token just produced (detokenizing, streaming it), which then runs
 * beside the model instead of between its steps (see decode ahead in llama-engine.ts).
 */
import type {
  BatchItem,
  CustomBatchingDispatchSchedule,
  CustomBatchingPrioritizationStrategy,
  LlamaContext,
  LlamaContextOptions,
  LlamaModel,
  PrioritizedBatchItem,
} from "node-llama-cpp";
import { z } from "zod";

export const batchOrderSchema = z.enum(["generation-first", "parallel"]);
export type BatchOrder = z.infer<typeof batchOrderSchema>;

/** Which sequence each batch item belongs to (same order as the items); null when that cannot be known. */
export type SequenceIdsOf = (items: readonly BatchItem[]) => readonly number[] | null;

/** Generating sequences (one queued token) first, then prompts whole, first come first served. */
export const generationFirst: CustomBatchingPrioritizationStrategy = ({ items }) => {
  const whole = (item: BatchItem): PrioritizedBatchItem => ({ item, processAmount: item.tokens.length });
  return [...items.filter((i) => i.tokens.length === 1).map(whole), ...items.filter((i) => i.tokens.length !== 1).map(whole)];
};

/**
 * An even share of the batch for every queued item; what a short item leaves goes to the longer ones in turn.
 * The same shares as node-llama-cpp's "maximumParallelism" (which it does not export).
 */
export const evenShare: CustomBatchingPrioritizationStrategy = ({ items, size }) => {
  const shares = items.map((item) => ({ item, processAmount: 0 }));
  let left = size;
  let open = shares.filter((s) => s.item.tokens.length > 0);
  while (left > 0 && open.length > 0) {
    const share = Math.max(1, Math.floor(left / open.length));
    for (const s of open) {
      const take = Math.min(share, s.item.tokens.length - s.processAmount, left);
      s.processAmount += take;
      left -= take;
      if (left === 0) break;
    }
    open = open.filter((s) => s.processAmount < s.item.tokens.length);
  }
  return shares.filter((s) => s.processAmount > 0);
};

/**
 * `strategy`'s choice of tokens, put into the batch in ascending sequence id order. What the strategy chose is
 * first clipped to the batch size in its own order (node-llama-cpp clips in the returned order), so sorting
 * changes only the order, never which tokens go in. Without ids the strategy's order is kept.
 */
export function inSequenceOrder(strategy: CustomBatchingPrioritizationStrategy, sequenceIdsOf: SequenceIdsOf): CustomBatchingPrioritizationStrategy {
  return ({ items, size }) => {
    const chosen = strategy({ items, size });
    const ids = sequenceIdsOf(items);
    if (!ids) return chosen;
    const idOf = new Map(items.map((item, i) => [item, ids[i]!]));
    let left = size;
    const fitted: PrioritizedBatchItem[] = [];
    for (const { item, processAmount } of chosen) {
      const take = Math.min(Math.max(1, processAmount), item.tokens.length, left);
      if (take <= 0) continue;
      fitted.push({ item, processAmount: take });
      left -= take;
    }
    return fitted.sort((a, b) => idOf.get(a.item)! - idOf.get(b.item)!);
  };
}

/** The part of node-llama-cpp 3.x's LlamaContext that says which sequence queued what (not public API). */
interface QueuedDecodesView {
  readonly _queuedDecodes?: readonly { readonly sequenceId: number; readonly tokens: BatchItem["tokens"] }[];
}

const queuedDecodesOf = (context: LlamaContext | null) => (context as unknown as QueuedDecodesView | null)?._queuedDecodes;

/**
 * Reads the sequence ids of a context's batch items. node-llama-cpp builds the items from its queued decodes in
 * order, sharing their token arrays; the ids are trusted only when every item's tokens are that very array, so
 * a different node-llama-cpp version falls back to the unsorted order instead of mis-sorting.
 */
export function queuedSequenceIds(context: () => LlamaContext | null): SequenceIdsOf {
  return (items) => {
    const queued = queuedDecodesOf(context());
    if (!queued || queued.length !== items.length) return null;
    return queued.every((q, i) => q.tokens === items[i]!.tokens) ? queued.map((q) => q.sequenceId) : null;
  };
}

/**
 * node-llama-cpp's `batching.dispatchSchedule`: at once when every busy sequence has a queued decode, else on the
 * next event-loop turn (node-llama-cpp's default). Without a readable queue it always waits for the next turn.
 */
export function dispatchWhenBusyQueued(context: () => LlamaContext | null, busySequences: () => number): CustomBatchingDispatchSchedule {
  return (dispatch) => {
    const queued = queuedDecodesOf(context());
    if (queued && queued.length >= busySequences()) dispatch();
    else setImmediate(dispatch);
  };
}

/** node-llama-cpp's `batching.itemPrioritizationStrategy` for a batch order, in sequence id order. */
export function prioritizationFor(order: BatchOrder, sequenceIdsOf: SequenceIdsOf): CustomBatchingPrioritizationStrategy {
  return inSequenceOrder(order === "generation-first" ? generationFirst : evenShare, sequenceIdsOf);
}

export interface BatchingChoices {
  /** Which tokens go in a batch (default "parallel"); always in sequence id order. */
  readonly order?: BatchOrder;
  /** How many of the context's sequences are busy now: lets a batch go as soon as each has queued. */
  readonly busySequences?: () => number;
}

/** `model.createContext` with its batches filled by `order` in sequence id order, sent as `busySequences` allows. */
export async function createBatchedContext(
  model: LlamaModel,
  options: Omit<LlamaContextOptions, "batching">,
  { order = "parallel", busySequences }: BatchingChoices = {},
): Promise<LlamaContext> {
  let created: LlamaContext | null = null;
  const context = await model.createContext({
    ...options,
    batching: {
      itemPrioritizationStrategy: prioritizationFor(order, queuedSequenceIds(() => created)),
      ...(busySequences ? { dispatchSchedule: dispatchWhenBusyQueued(() => created, busySequences) } : {}),
    },
  });
  created = context;
  return context;
}
