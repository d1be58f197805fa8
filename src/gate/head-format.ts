/**
 * Gate head weights file (`gate.json` in a pack). JSON with float arrays: small (≈150k floats for
 * an MLP over 576 features), diff-able, and parsed with the same zod schema everywhere.
 */
import { z } from "zod";

export const poolingSchema = z.enum(["mean", "last", "max", "mean-max"]);
export type Pooling = z.infer<typeof poolingSchema>;

export const featureSpecSchema = z.discriminatedUnion("kind", [
  /** (a) Rows of the GGUF's `token_embd` for the chat-templated prompt's tokens, pooled. No engine pass. */
  z.object({ kind: z.literal("token-embd"), pooling: poolingSchema, dim: z.number().int().positive() }),
  /** (b) The engine's embedding of the chat-templated prompt (a full model pass). */
  z.object({ kind: z.literal("engine-embedding"), dim: z.number().int().positive() }),
]);
export type FeatureSpec = z.infer<typeof featureSpecSchema>;

const linearLayerSchema = z
  .object({
    inputs: z.number().int().positive(),
    outputs: z.number().int().positive(),
    /** Row-major `outputs × inputs`. */
    weight: z.array(z.number()),
    bias: z.array(z.number()),
  })
  .refine((l) => l.weight.length === l.inputs * l.outputs && l.bias.length === l.outputs, {
    message: "weight must have inputs*outputs values and bias outputs values",
  });
export type LinearLayerData = z.infer<typeof linearLayerSchema>;

export const gateHeadFileSchema = z
  .object({
    format: z.literal("prism-gate-head"),
    version: z.literal(1),
    /** `logistic`: one linear layer; `mlp`: Linear → GELU → (Dropout at training) → Linear. */
    architecture: z.enum(["logistic", "mlp"]),
    features: featureSpecSchema,
    /** Output classes, e.g. `["retain","apply"]` or intent names. */
    classes: z.array(z.string().min(1)).min(2),
    /** Classes whose probabilities add up to P(apply). */
    applyClasses: z.array(z.string().min(1)).min(1),
    threshold: z.number().min(0).max(1).default(0.5),
    normalization: z.object({ mean: z.array(z.number()), std: z.array(z.number()) }),
    layers: z.array(linearLayerSchema).min(1).max(2),
    /** Training report (accuracies, seed, sample counts), informational. */
    training: z.record(z.string(), z.unknown()).default({}),
  })
  .superRefine((h, ctx) => {
    const dim = h.features.dim;
    if (h.normalization.mean.length !== dim || h.normalization.std.length !== dim) {
      ctx.addIssue({ code: "custom", path: ["normalization"], message: `mean/std must have ${dim} values` });
    }
    const expectLayers = h.architecture === "logistic" ? 1 : 2;
    if (h.layers.length !== expectLayers) {
      ctx.addIssue({ code: "custom", path: ["layers"], message: `${h.architecture} needs ${expectLayers} layer(s)` });
      return;
    }
    const first = h.layers[0];
    const last = h.layers[h.layers.length - 1];
    if (first && first.inputs !== dim) {
      ctx.addIssue({ code: "custom", path: ["layers", 0], message: `first layer takes ${first.inputs} inputs, features have ${dim}` });
    }
    if (h.layers.length === 2 && first && last && last.inputs !== first.outputs) {
      ctx.addIssue({ code: "custom", path: ["layers", 1], message: "layer shapes do not chain" });
    }
    if (last && last.outputs !== h.classes.length) {
      ctx.addIssue({ code: "custom", path: ["classes"], message: `last layer has ${last.outputs} outputs for ${h.classes.length} classes` });
    }
    for (const c of h.applyClasses) {
      if (!h.classes.includes(c)) ctx.addIssue({ code: "custom", path: ["applyClasses"], message: `unknown class '${c}'` });
    }
    const bad = [...h.normalization.mean, ...h.normalization.std, ...h.layers.flatMap((l) => [...l.weight, ...l.bias])].some(
      (v) => !Number.isFinite(v),
    );
    if (bad) ctx.addIssue({ code: "custom", path: ["layers"], message: "weights contain NaN or infinite values" });
  });

export type GateHeadFile = z.infer<typeof gateHeadFileSchema>;
