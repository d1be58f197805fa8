import { z } from "zod";

/** The llama-architecture hyper-parameters the trainer needs, read from GGUF metadata (`llama.*`). */
export const llamaShapeSchema = z.object({
  layers: z.number().int().positive(),
  dim: z.number().int().positive(),
  ffnDim: z.number().int().positive(),
  heads: z.number().int().positive(),
  kvHeads: z.number().int().positive(),
  headDim: z.number().int().positive(),
  vocab: z.number().int().positive(),
  rmsEps: z.number().positive(),
  ropeBase: z.number().positive(),
  /** True when the output head reuses `token_embd.weight` (no `output.weight` tensor). */
  tiedOutput: z.boolean(),
});
export type LlamaShape = z.infer<typeof llamaShapeSchema>;

/** The seven projections PRISM adapts, with their GGUF tensor suffixes. */
export const loraTargets = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"] as const;
export type LoraTarget = (typeof loraTargets)[number];

/** [out, in] of a target projection's weight (GGUF ne = [in, out]). */
export function targetDims(shape: LlamaShape, target: LoraTarget): { out: number; in: number } {
  const q = shape.heads * shape.headDim;
  const kv = shape.kvHeads * shape.headDim;
  switch (target) {
    case "attn_q": return { out: q, in: shape.dim };
    case "attn_k": return { out: kv, in: shape.dim };
    case "attn_v": return { out: kv, in: shape.dim };
    case "attn_output": return { out: shape.dim, in: q };
    case "ffn_gate": return { out: shape.ffnDim, in: shape.dim };
    case "ffn_up": return { out: shape.ffnDim, in: shape.dim };
    case "ffn_down": return { out: shape.dim, in: shape.ffnDim };
  }
}
