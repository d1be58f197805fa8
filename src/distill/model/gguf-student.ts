/**
 * Loads a llama-architecture GGUF as f32 training weights through the project's GGUF reader
 * (one tensor at a time, dequantized by src/gguf).
 */
import { GgufError } from "../../errors.js";
import { type GgufFile, openGguf } from "../../gguf/index.js";
import { type LlamaShape, type LoraTarget, llamaShapeSchema, loraTargets, targetDims } from "./shape.js";
import { type LayerWeights, type StudentWeights, sharedCopy } from "./weights.js";

export function llamaShapeOf(file: GgufFile): LlamaShape {
  const m = file.metadata;
  const arch = m.string("general.architecture");
  if (arch !== "llama") throw new GgufError(file.path, `architecture '${String(arch)}' is not supported by the trainer (llama only)`);
  const dim = m.number("llama.embedding_length");
  const heads = m.number("llama.attention.head_count");
  const hasOutput = file.tensors.some((t) => t.name === "output.weight");
  const embd = file.tensors.find((t) => t.name === "token_embd.weight");
  const parsed = llamaShapeSchema.safeParse({
    layers: m.number("llama.block_count"),
    dim,
    ffnDim: m.number("llama.feed_forward_length"),
    heads,
    kvHeads: m.number("llama.attention.head_count_kv") ?? heads,
    headDim: m.number("llama.rope.dimension_count") ?? (dim !== undefined && heads !== undefined ? dim / heads : undefined),
    vocab: m.number("llama.vocab_size") ?? embd?.shape[1],
    rmsEps: m.number("llama.attention.layer_norm_rms_epsilon"),
    ropeBase: m.number("llama.rope.freq_base") ?? 10000,
    tiedOutput: !hasOutput,
  });
  if (!parsed.success) throw new GgufError(file.path, `incomplete llama metadata: ${parsed.error.message}`);
  return parsed.data;
}

export interface LoadStudentOptions {
  /**
   * Every tensor in a SharedArrayBuffer (for sequence workers), copied one tensor at a time as it is read, so
   * the model never exists twice in memory.
   */
  readonly shared?: boolean;
}

export async function loadStudentWeights(path: string, options: LoadStudentOptions = {}): Promise<StudentWeights> {
  const file = await openGguf(path);
  try {
    const shape = llamaShapeOf(file);
    const read = async (name: string, expected: number): Promise<Float32Array> => {
      const info = file.tensor(name);
      if (info.elementCount !== expected) {
        throw new GgufError(path, `tensor '${name}' has ${info.elementCount} elements, expected ${expected}`);
      }
      const data = await file.readTensor(name);
      return options.shared === true ? sharedCopy(data) : data;
    };
    const layers: LayerWeights[] = [];
    for (let l = 0; l < shape.layers; l++) {
      const proj = {} as Record<LoraTarget, Float32Array>;
      for (const t of loraTargets) {
        const d = targetDims(shape, t);
        proj[t] = await read(`blk.${l}.${t}.weight`, d.out * d.in);
      }
      layers.push({
        attnNorm: await read(`blk.${l}.attn_norm.weight`, shape.dim),
        ffnNorm: await read(`blk.${l}.ffn_norm.weight`, shape.dim),
        proj,
      });
    }
    const tokenEmbd = await read("token_embd.weight", shape.vocab * shape.dim);
    return {
      shape,
      tokenEmbd,
      layers,
      outputNorm: await read("output_norm.weight", shape.dim),
      output: shape.tiedOutput ? tokenEmbd : await read("output.weight", shape.vocab * shape.dim),
    };
  } finally {
    await file.close();
  }
}
