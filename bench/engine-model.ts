/**
 * A random-weight llama model of a chosen shape for the engine benchmark: the tokenizer and chat template of
 * a real GGUF (so prompts tokenize as in production), matrices as Q8_0 with seeded random values. Speed does
 * not depend on the values, so tensors of the same shape share one buffer (seconds to write 0.5B parameters,
 * little memory). Written once (atomically, by the project's GGUF writer) and reused while the file exists.
 */
import { existsSync } from "node:fs";
import { readGgufHeader } from "../src/gguf/index.js";
import { floatToHalf } from "../src/gguf/half.js";
import { llamaArchitectureMetadata, llamaTensorShapes, loraAdapterGguf } from "../src/gguf/llama.js";
import { GgmlType } from "../src/gguf/types.js";
import { ggufValue, writeGguf, type GgufTensorSpec } from "../src/gguf/writer.js";
import { mulberry32 } from "../src/random.js";
import type { GgufValue } from "../src/gguf/types.js";

export interface RandomModelShape {
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly nFf: number;
}

const Q8_BLOCK = 32;
const Q8_BYTES = 34;

/** Q8_0 blocks of seeded random int8 values scaled so rows have about unit-variance outputs. */
function randomQ8(values: number, inDim: number, random: () => number): Uint8Array {
  const blocks = values / Q8_BLOCK;
  const out = new Uint8Array(blocks * Q8_BYTES);
  const view = new DataView(out.buffer);
  // Uniform int8 in [-127, 127] has a standard deviation of ~73.
  const scale = floatToHalf(1 / (73 * Math.sqrt(inDim)));
  for (let b = 0; b < blocks; b++) {
    const at = b * Q8_BYTES;
    view.setUint16(at, scale, true);
    for (let j = 0; j < Q8_BLOCK; j++) out[at + 2 + j] = (Math.floor(random() * 255) - 127) & 0xff;
  }
  return out;
}

export async function writeRandomLlamaModel(
  path: string,
  options: { readonly tokenizerFrom: string; readonly shape: RandomModelShape; readonly seed: number },
): Promise<string> {
  if (existsSync(path)) return path;
  const source = await readGgufHeader(options.tokenizerFrom);
  const tokens = source.metadata.get("tokenizer.ggml.tokens");
  if (tokens?.type !== "array") throw new Error(`${options.tokenizerFrom}: no tokenizer.ggml.tokens`);
  const nVocab = tokens.value.items.length;
  const s = options.shape;
  const contextLength = 8192;
  const hyperparams = { ...s, contextLength, ropeFreqBase: 100000, rmsEps: 1e-5 };
  const metadata: [string, GgufValue][] = [
    ...llamaArchitectureMetadata(`prism-random-${s.nLayer}x${s.nEmbd}-seed${options.seed}`, hyperparams, nVocab),
    ["general.file_type", ggufValue.u32(7)], // MOSTLY_Q8_0
  ];
  for (const [key, value] of source.metadata) if (key.startsWith("tokenizer.")) metadata.push([key, value]);

  const random = mulberry32(options.seed);
  const shared = new Map<string, Uint8Array>();
  const tensors: GgufTensorSpec[] = llamaTensorShapes(hyperparams, nVocab).map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.isNorm) return { name: t.name, shape: t.shape, type: GgmlType.F32, data: new Float32Array(n).fill(1) };
    const key = t.shape.join("x");
    let raw = shared.get(key);
    if (!raw) shared.set(key, (raw = randomQ8(n, t.shape[0]!, random)));
    return { name: t.name, shape: t.shape, type: GgmlType.Q8_0, raw };
  });
  await writeGguf(path, { metadata, tensors });
  return path;
}

/** A seeded random rank-`rank` LoRA on every layer's attn_q and attn_v of a llama model (F32), written once. */
export async function writeRandomLora(path: string, modelPath: string, options: { readonly rank: number; readonly seed: number }): Promise<string> {
  if (existsSync(path)) return path;
  const header = await readGgufHeader(modelPath);
  const u32 = (key: string): number => {
    const value = header.metadata.get(key);
    if (value?.type !== "u32" && value?.type !== "i32") throw new Error(`${modelPath}: no ${key}`);
    return value.value as number;
  };
  const nEmbd = u32("llama.embedding_length");
  const kv = (nEmbd / u32("llama.attention.head_count")) * u32("llama.attention.head_count_kv");
  const random = mulberry32(options.seed);
  const normals = (n: number, std: number): Float32Array => Float32Array.from({ length: n }, () => (random() * 2 - 1) * std * Math.sqrt(3));
  const tensors = Array.from({ length: u32("llama.block_count") }, (_, layer) => [
    { target: `blk.${layer}.attn_q.weight`, inDim: nEmbd, outDim: nEmbd },
    { target: `blk.${layer}.attn_v.weight`, inDim: nEmbd, outDim: kv },
  ])
    .flat()
    .map((t) => ({ ...t, a: normals(t.inDim * options.rank, 1 / Math.sqrt(t.inDim)), b: normals(options.rank * t.outDim, 0.01) }));
  await writeGguf(path, loraAdapterGguf({ name: `prism-random-lora-r${options.rank}-seed${options.seed}`, rank: options.rank, alpha: options.rank, tensors }));
  return path;
}
