import { z } from "zod";

/** Training configuration; defaults are the PRISM paper's. Recorded verbatim in the pack manifest. */
export const distillConfigSchema = z
  .object({
    rank: z.number().int().positive().max(256).default(16),
    alpha: z.number().positive().default(32),
    dropout: z.number().min(0).max(0.9).default(0.05),
    learningRate: z.number().positive().default(2e-4),
    weightDecay: z.number().min(0).default(0.01),
    gradClip: z.number().positive().default(1),
    /** micro-batch is 1 sequence; gradients are averaged over this many before each update. */
    accumulation: z.number().int().positive().default(16),
    maxLength: z.number().int().min(2).default(1024),
    temperature: z.number().positive().default(2),
    /** Optimizer steps; when absent, `epochs` passes over the training samples. */
    steps: z.number().int().positive().optional(),
    epochs: z.number().positive().default(10),
    seed: z.number().int().nonnegative().default(0),
    checkpointEvery: z.number().int().positive().default(10),
    /** Share of distill samples held out to measure KL to the teacher before and after training. */
    heldOutFraction: z.number().min(0).max(0.5).default(0.1),
    /** Gradient norm (before clipping) above which training stops as diverged. */
    explodeNorm: z.number().positive().default(1e4),
    /** First adapted layer: 1 keeps layer 0 (the gate's feature layer) untouched. */
    firstLayer: z.number().int().nonnegative().default(1),
    outputType: z.enum(["f32", "f16"]).default("f32"),
    /**
     * Weight of the retain term: KL from the base model (no LoRA) to the adapted student on the retain samples'
     * baseline answers, mixed into the sample pool. 0 turns it off (no retain.jsonl needed).
     */
    retainWeight: z.number().min(0).max(10).default(0),
  })
  .strict();
export type DistillConfig = z.infer<typeof distillConfigSchema>;
export type DistillConfigInput = z.input<typeof distillConfigSchema>;
