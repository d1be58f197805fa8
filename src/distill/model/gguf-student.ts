/**
 * Loads a llama-architecture GGUF as f32 training weights. Metadata and tensor offsets come from
 * node-llama-cpp's `readGgufFileInfo`; tensor bytes are read one tensor at a time (never the whole file)
 * and dequantized by `dequantizeRows`.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { readGgufFileInfo } from "node-llama-cpp";
import { GgufError } from "../../errors.js";
import { dequantize, tensorByteSize } from "./dequantize.js";
import { type LlamaShape, type LoraTarget, llamaShapeSchema, loraTargets } from "./shape.js";
import type { LayerWeights, StudentWeights } from "./weights.js";

interface TensorEntry {
  readonly dims: number[];
  readonly type: number;
  readonly fileOffset: number;
}

export async function readLlamaShape(path: string): Promise<{ shape: LlamaShape; tensors: Map<string, TensorEntry> }> {
  const info = await readGgufFileInfo(path, {
    logWarnings: false,
    ignoreKeys: ["tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"],
  });
  const meta = info.metadata as unknown as Record<string, unknown>;
  const general = meta["general"] as { architecture?: string } | undefined;
  if (general?.architecture !== "llama") {
    throw new GgufError(path, `architecture '${String(general?.architecture)}' is not supported by the trainer (llama only)`);
  }
  const tensors = new Map<string, TensorEntry>();
  for (const t of info.fullTensorInfo ?? info.tensorInfo ?? []) {
    tensors.set(t.name, { dims: t.dimensions.map(Number), type: t.ggmlType, fileOffset: Number(t.fileOffset) });
  }
  const llama = meta["llama"] as Record<string, unknown>;
  const attention = (llama["attention"] ?? {}) as Record<string, unknown>;
  const rope = (llama["rope"] ?? {}) as Record<string, unknown>;
  const dim = Number(llama["embedding_length"]);
  const heads = Number(attention["head_count"]);
  const embd = tensors.get("token_embd.weight");
  const parsed = llamaShapeSchema.safeParse({
    layers: Number(llama["block_count"]),
    dim,
    ffnDim: Number(llama["feed_forward_length"]),
    heads,
    kvHeads: Number(attention["head_count_kv"] ?? heads),
    headDim: Number(rope["dimension_count"] ?? dim / heads),
    vocab: Number(llama["vocab_size"] ?? embd?.dims[1]),
    rmsEps: Number(attention["layer_norm_rms_epsilon"]),
    ropeBase: Number(rope["freq_base"] ?? 10000),
    tiedOutput: !tensors.has("output.weight"),
  });
  if (!parsed.success) throw new GgufError(path, `incomplete llama metadata: ${parsed.error.message}`);
  return { shape: parsed.data, tensors };
}

export async function loadStudentWeights(path: string): Promise<StudentWeights> {
  const { shape, tensors } = await readLlamaShape(path);
  const fd = openSync(path, "r");
  try {
    const read = (name: string, expected: number): Float32Array => {
      const t = tensors.get(name);
      if (t === undefined) throw new GgufError(path, `tensor '${name}' is missing`);
      const count = t.dims.reduce((a, b) => a * b, 1);
      if (count !== expected) throw new GgufError(path, `tensor '${name}' has ${count} elements, expected ${expected}`);
      const bytes = Buffer.allocUnsafe(tensorByteSize(t.type, count, path, name));
      const got = readSync(fd, bytes, 0, bytes.length, t.fileOffset);
      if (got !== bytes.length) throw new GgufError(path, `tensor '${name}' is truncated`);
      return dequantize(bytes, t.type, count, path, name);
    };
    const q = shape.heads * shape.headDim, kv = shape.kvHeads * shape.headDim;
    const sizes: Record<LoraTarget, number> = {
      attn_q: q * shape.dim, attn_k: kv * shape.dim, attn_v: kv * shape.dim, attn_output: shape.dim * q,
      ffn_gate: shape.ffnDim * shape.dim, ffn_up: shape.ffnDim * shape.dim, ffn_down: shape.dim * shape.ffnDim,
    };
    const layers: LayerWeights[] = [];
    for (let l = 0; l < shape.layers; l++) {
      const proj = {} as Record<LoraTarget, Float32Array>;
      for (const t of loraTargets) proj[t] = read(`blk.${l}.${t}.weight`, sizes[t]);
      layers.push({
        attnNorm: read(`blk.${l}.attn_norm.weight`, shape.dim),
        ffnNorm: read(`blk.${l}.ffn_norm.weight`, shape.dim),
        proj,
      });
    }
    const tokenEmbd = read("token_embd.weight", shape.vocab * shape.dim);
    return {
      shape,
      tokenEmbd,
      layers,
      outputNorm: read("output_norm.weight", shape.dim),
      output: shape.tiedOutput ? tokenEmbd : read("output.weight", shape.vocab * shape.dim),
    };
  } finally {
    closeSync(fd);
  }
}
