/**
 * Builders for llama-architecture GGUF files: a model (hyperparameters, tokenizer, chat template, the
 * standard llama.cpp tensor set) and a LoRA adapter for it (`general.type=adapter`, `adapter.type=lora`).
 */
import { z } from "zod";
import { GgmlType } from "./types.js";
import { spmTokenizerMetadata, type SpmVocab } from "./spm-vocab.js";
import { ggufValue, type GgufTensorSpec, type GgufWriteSpec, type TensorData } from "./writer.js";
import type { GgufValue } from "./types.js";

/** ChatML, as used by SmolLM2 and Qwen (node-llama-cpp recognises it). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export const llamaHyperparamsSchema = z
  .object({
    nEmbd: z.number().int().positive(),
    nLayer: z.number().int().positive(),
    nHead: z.number().int().positive(),
    nHeadKv: z.number().int().positive(),
    nFf: z.number().int().positive(),
    contextLength: z.number().int().positive(),
    ropeFreqBase: z.number().positive().default(10000),
    rmsEps: z.number().positive().default(1e-5),
  })
  .refine((h) => h.nEmbd % h.nHead === 0, "nEmbd must be a multiple of nHead")
  .refine((h) => h.nHead % h.nHeadKv === 0, "nHead must be a multiple of nHeadKv");
export type LlamaHyperparams = z.input<typeof llamaHyperparamsSchema>;

export interface LlamaTensorShape {
  readonly name: string;
  readonly shape: readonly number[];
  /** Norm weights are vectors and must stay F32 in llama.cpp. */
  readonly isNorm: boolean;
}

/** The tensors of a llama model in llama.cpp's names and ne order ([in, out] for matrices). */
export function llamaTensorShapes(params: LlamaHyperparams, nVocab: number, tiedOutput = false): LlamaTensorShape[] {
  const h = llamaHyperparamsSchema.parse(params);
  const kv = (h.nEmbd / h.nHead) * h.nHeadKv;
  const t = (name: string, shape: number[], isNorm = false): LlamaTensorShape => ({ name, shape, isNorm });
  const list = [t("token_embd.weight", [h.nEmbd, nVocab]), t("output_norm.weight", [h.nEmbd], true)];
  if (!tiedOutput) list.push(t("output.weight", [h.nEmbd, nVocab]));
  for (let i = 0; i < h.nLayer; i++) {
    const p = `blk.${i}.`;
    list.push(
      t(`${p}attn_norm.weight`, [h.nEmbd], true),
      t(`${p}attn_q.weight`, [h.nEmbd, h.nEmbd]),
      t(`${p}attn_k.weight`, [h.nEmbd, kv]),
      t(`${p}attn_v.weight`, [h.nEmbd, kv]),
      t(`${p}attn_output.weight`, [h.nEmbd, h.nEmbd]),
      t(`${p}ffn_norm.weight`, [h.nEmbd], true),
      t(`${p}ffn_gate.weight`, [h.nEmbd, h.nFf]),
      t(`${p}ffn_up.weight`, [h.nEmbd, h.nFf]),
      t(`${p}ffn_down.weight`, [h.nFf, h.nEmbd]),
    );
  }
  return list;
}

export interface LlamaModelSpec {
  readonly name: string;
  readonly hyperparams: LlamaHyperparams;
  readonly vocab: SpmVocab;
  readonly chatTemplate?: string;
  /** End-of-turn control token (e.g. `<|im_end|>`). */
  readonly eotToken?: string;
  readonly tiedOutput?: boolean;
  /** Storage type of each tensor (norms are always F32). Default F32. */
  readonly tensorType?: (name: string) => number;
  /** Weights of each tensor, row-major in ne order (ne[0] fastest). */
  readonly weights: (tensor: LlamaTensorShape) => TensorData;
  readonly extraMetadata?: readonly [string, GgufValue][];
}

/** The `general.*` and `llama.*` keys of a llama model GGUF (no tokenizer). */
export function llamaArchitectureMetadata(name: string, hyperparams: LlamaHyperparams, nVocab: number): [string, GgufValue][] {
  const h = llamaHyperparamsSchema.parse(hyperparams);
  return [
    ["general.architecture", ggufValue.string("llama")],
    ["general.type", ggufValue.string("model")],
    ["general.name", ggufValue.string(name)],
    ["llama.vocab_size", ggufValue.u32(nVocab)],
    ["llama.context_length", ggufValue.u32(h.contextLength)],
    ["llama.embedding_length", ggufValue.u32(h.nEmbd)],
    ["llama.block_count", ggufValue.u32(h.nLayer)],
    ["llama.feed_forward_length", ggufValue.u32(h.nFf)],
    ["llama.attention.head_count", ggufValue.u32(h.nHead)],
    ["llama.attention.head_count_kv", ggufValue.u32(h.nHeadKv)],
    ["llama.rope.dimension_count", ggufValue.u32(h.nEmbd / h.nHead)],
    ["llama.rope.freq_base", ggufValue.f32(h.ropeFreqBase)],
    ["llama.attention.layer_norm_rms_epsilon", ggufValue.f32(h.rmsEps)],
  ];
}

export function llamaModelGguf(spec: LlamaModelSpec): GgufWriteSpec {
  const h = llamaHyperparamsSchema.parse(spec.hyperparams);
  const nVocab = spec.vocab.tokens.length;
  const metadata: [string, GgufValue][] = [
    ...llamaArchitectureMetadata(spec.name, h, nVocab),
    ...spmTokenizerMetadata(spec.vocab, spec.eotToken === undefined ? {} : { eotToken: spec.eotToken }),
  ];
  if (spec.chatTemplate !== undefined) metadata.push(["tokenizer.chat_template", ggufValue.string(spec.chatTemplate)]);
  metadata.push(...(spec.extraMetadata ?? []));
  const tensors: GgufTensorSpec[] = llamaTensorShapes(h, nVocab, spec.tiedOutput).map((t) => ({
    name: t.name,
    shape: t.shape,
    type: t.isNorm ? GgmlType.F32 : (spec.tensorType?.(t.name) ?? GgmlType.F32),
    data: spec.weights(t),
  }));
  return { metadata, tensors };
}

export interface LoraTensorPair {
  /** Base tensor name, e.g. `blk.1.attn_q.weight`. */
  readonly target: string;
  readonly inDim: number;
  readonly outDim: number;
  /** lora_a, ne=[inDim, rank] (rank rows of inDim). */
  readonly a: TensorData;
  /** lora_b, ne=[rank, outDim] (outDim rows of rank). */
  readonly b: TensorData;
}

export interface LoraAdapterSpec {
  readonly name: string;
  readonly architecture?: string;
  readonly rank: number;
  readonly alpha: number;
  readonly tensors: readonly LoraTensorPair[];
  /** F32 (default) or F16. */
  readonly type?: number;
  readonly extraMetadata?: readonly [string, GgufValue][];
}

/** llama.cpp applies `scale * alpha / rank * B·A·x` for each pair. */
export function loraAdapterGguf(spec: LoraAdapterSpec): GgufWriteSpec {
  const type = spec.type ?? GgmlType.F32;
  const metadata: [string, GgufValue][] = [
    ["general.architecture", ggufValue.string(spec.architecture ?? "llama")],
    ["general.type", ggufValue.string("adapter")],
    ["general.name", ggufValue.string(spec.name)],
    ["adapter.type", ggufValue.string("lora")],
    ["adapter.lora.alpha", ggufValue.f32(spec.alpha)],
    ...(spec.extraMetadata ?? []),
  ];
  const tensors: GgufTensorSpec[] = spec.tensors.flatMap((p) => [
    { name: `${p.target}.lora_a`, shape: [p.inDim, spec.rank], type, data: p.a },
    { name: `${p.target}.lora_b`, shape: [spec.rank, p.outDim], type, data: p.b },
  ]);
  return { metadata, tensors };
}
