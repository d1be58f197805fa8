import os from "node:os";
import { z } from "zod";

/** The served GGUF and how it is loaded. */
export const modelConfigSchema = z
  .object({
    /** A file path, `hf:<user>/<repo>/<file>`, or `default` (SmolLM2-135M-Instruct); resolved by src/models. */
    spec: z.string().min(1).default("default"),
    /** Compute threads: the real core count (more threads than cores makes llama.cpp ~100× slower). */
    threads: z.number().int().positive().default(() => os.availableParallelism()),
    gpu: z.union([z.literal(false), z.enum(["auto", "cuda", "vulkan", "metal"])]).default(false),
    /** Tokens per sequence; null = the model's training context. */
    contextSize: z.number().int().min(64).nullable().default(4096),
    /** Parallel sequences per context (continuous batching slots). */
    sequences: z.number().int().min(1).max(64).default(4),
  })
  .strict();
export type ModelConfig = z.infer<typeof modelConfigSchema>;
