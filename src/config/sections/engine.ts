import { z } from "zod";
import { batchOrderSchema } from "../../engine/batch-order.js";

/** A setting llama.cpp or the engine may decide ("auto") or that is forced on or off. */
const autoOrBoolean = z.union([z.literal("auto"), z.boolean()]);

/** Scheduling and shutdown. */
export const engineConfigSchema = z
  .object({
    /** Requests allowed to wait for a sequence (all adapters); beyond it → 429. */
    maxQueue: z.number().int().min(0).default(32),
    /** Longest a request may wait for a sequence. */
    queueTimeoutMs: z.number().int().positive().default(60_000),
    /** SIGTERM: how long in-flight requests may take to finish before they are cut. */
    drainTimeoutMs: z.number().int().min(0).default(30_000),
    /** libuv threadpool size for `prism serve` (model steps run on it; 1 is fastest, see docs/engine.md); null = Node's default. An explicit UV_THREADPOOL_SIZE wins. */
    threadpoolSize: z.number().int().min(1).max(1024).nullable().default(1),
    /** Longest a generating sequence waits for the others of its context so they decode in one batch (ms); 0 = off. */
    stepAlignMaxWaitMs: z.number().int().min(0).max(10_000).default(100),
    /** How a decode batch is filled: an even share for every queued sequence (best throughput here, see docs/engine.md) or generating sequences first, then prompts in arrival order (lower TTFT at high concurrency). */
    batchOrder: batchOrderSchema.default("parallel"),
    /** Ask for a generation's next token as soon as one is sampled, so streaming it runs beside the next decode step instead of between steps; "auto" does it only where a core is free during the step (GPU offload, threads < cores), since on busy cores it slows the step more than it saves (docs/engine.md). A stop sequence then costs one unused decoded token. */
    decodeAhead: autoOrBoolean.default("auto"),
    /** Flash attention in every context: "auto" lets llama.cpp decide (on for CPU with several sequences); faster here, and its kernels differ between builds in the last digits, which decides near-tie greedy tokens (docs/engine.md). */
    flashAttention: autoOrBoolean.default("auto"),
  })
  .strict();
export type EngineConfig = z.infer<typeof engineConfigSchema>;
