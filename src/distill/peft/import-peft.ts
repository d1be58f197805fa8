/**
 * PEFT LoRA (`adapter_config.json` + `adapter_model.safetensors`) → llama.cpp GGUF LoRA for the served model.
 * Mirrors llama.cpp's convert_lora_to_gguf.py for llama-family names: HF module → GGUF tensor, and q/k
 * `lora_B` rows permuted like the base q/k weights (GGUF stores them in RoPE-pair order).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { DistillError } from "../../errors.js";
import { openGguf } from "../../gguf/index.js";
import { loraAdapterGguf } from "../../gguf/llama.js";
import { GgmlType } from "../../gguf/types.js";
import { writeGguf } from "../../gguf/writer.js";
import { llamaShapeOf } from "../model/gguf-student.js";
import { type LlamaShape, type LoraTarget, targetDims } from "../model/shape.js";
import { readSafetensors } from "./safetensors.js";

export const peftConfigSchema = z.looseObject({
  peft_type: z.literal("LORA", { error: "only peft_type LORA is supported" }),
  r: z.number().int().positive(),
  lora_alpha: z.number().positive(),
  target_modules: z.union([z.array(z.string()), z.string()]).optional(),
  use_rslora: z.boolean().default(false),
  use_dora: z.boolean().default(false),
  fan_in_fan_out: z.boolean().default(false),
  bias: z.string().default("none"),
  modules_to_save: z.array(z.string()).nullable().default(null),
  rank_pattern: z.record(z.string(), z.number()).default({}),
  alpha_pattern: z.record(z.string(), z.number()).default({}),
  base_model_name_or_path: z.string().nullable().optional(),
});
export type PeftConfig = z.infer<typeof peftConfigSchema>;

const moduleToTarget: Record<string, LoraTarget> = {
  q_proj: "attn_q",
  k_proj: "attn_k",
  v_proj: "attn_v",
  o_proj: "attn_output",
  gate_proj: "ffn_gate",
  up_proj: "ffn_up",
  down_proj: "ffn_down",
};

/** `base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight` → layer 3, q_proj, A. */
const TENSOR_NAME = /^(?:base_model\.model\.)?model\.layers\.(\d+)\.(?:self_attn|mlp)\.([a-z_]+)\.lora_([AB])(?:\.default)?\.weight$/;

/** Row permutation llama.cpp's converter applies to q/k (HF half-split RoPE → GGUF adjacent pairs). */
function permuteRows(rows: Float32Array, nHead: number, rowLen: number): Float32Array {
  const outRows = rows.length / rowLen;
  const hd = outRows / nHead;
  const half = hd / 2;
  const out = new Float32Array(rows.length);
  for (let h = 0; h < nHead; h++) {
    for (let s = 0; s < 2; s++) {
      for (let i = 0; i < half; i++) {
        const src = h * hd + s * half + i;
        const dst = h * hd + i * 2 + s;
        out.set(rows.subarray(src * rowLen, (src + 1) * rowLen), dst * rowLen);
      }
    }
  }
  return out;
}

export interface ImportPeftResult {
  readonly outPath: string;
  readonly rank: number;
  /** alpha written to the GGUF (rsLoRA folded in). */
  readonly alpha: number;
  readonly pairs: number;
  readonly layers: readonly number[];
  readonly modules: readonly string[];
}

export async function importPeftAdapter(options: {
  readonly dir: string;
  readonly modelPath: string;
  readonly outPath: string;
  readonly name?: string;
  readonly type?: "f32" | "f16";
}): Promise<ImportPeftResult> {
  const configPath = join(options.dir, "adapter_config.json");
  let configJson: unknown;
  try {
    configJson = JSON.parse(await readFile(configPath, "utf8"));
  } catch (err) {
    throw new DistillError(`${configPath}: cannot read PEFT config (${(err as Error).message})`);
  }
  const parsed = peftConfigSchema.safeParse(configJson);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new DistillError(`${configPath}: ${i?.path.join(".") || "(root)"}: ${i?.message}`);
  }
  const config = parsed.data;
  const problems: string[] = [];
  if (config.use_dora) problems.push("DoRA adapters (use_dora) cannot be expressed as a llama.cpp LoRA");
  if (config.fan_in_fan_out) problems.push("fan_in_fan_out=true (Conv1D layouts) is not a llama-family layout");
  if (config.bias !== "none") problems.push(`bias='${config.bias}': llama.cpp LoRA has no bias terms`);
  if (config.modules_to_save && config.modules_to_save.length > 0) {
    problems.push(`modules_to_save (${config.modules_to_save.join(", ")}) replaces full weights, which a LoRA file cannot carry`);
  }
  if (Object.keys(config.rank_pattern).length > 0 || Object.keys(config.alpha_pattern).length > 0) {
    problems.push("per-module rank_pattern/alpha_pattern is not supported (one alpha per GGUF adapter)");
  }
  if (problems.length > 0) throw new DistillError(`${options.dir}: unsupported PEFT adapter: ${problems.join("; ")}`);

  const model = await openGguf(options.modelPath);
  let shape: LlamaShape;
  try {
    shape = llamaShapeOf(model);
  } finally {
    await model.close();
  }

  const st = await readSafetensors(join(options.dir, "adapter_model.safetensors"));
  const pairs = new Map<string, { layer: number; module: string; a?: Float32Array; b?: Float32Array; aShape?: readonly number[]; bShape?: readonly number[] }>();
  for (const [name, tensor] of st.tensors) {
    const m = TENSOR_NAME.exec(name);
    if (m === null) {
      problems.push(`tensor '${name}' is not a llama-family LoRA tensor (supported modules: ${Object.keys(moduleToTarget).join(", ")})`);
      continue;
    }
    const layer = Number(m[1]);
    const module = m[2]!;
    if (!(module in moduleToTarget)) {
      problems.push(`tensor '${name}': module '${module}' is not supported`);
      continue;
    }
    if (layer >= shape.layers) {
      problems.push(`tensor '${name}': layer ${layer} does not exist (the served model has ${shape.layers})`);
      continue;
    }
    const key = `${layer}.${module}`;
    const entry = pairs.get(key) ?? { layer, module };
    if (m[3] === "A") {
      entry.a = tensor.read();
      entry.aShape = tensor.shape;
    } else {
      entry.b = tensor.read();
      entry.bShape = tensor.shape;
    }
    pairs.set(key, entry);
  }
  if (pairs.size === 0 && problems.length === 0) problems.push("no LoRA tensors found in adapter_model.safetensors");

  const r = config.r;
  const tensors = [];
  for (const p of [...pairs.values()].sort((x, y) => x.layer - y.layer || x.module.localeCompare(y.module))) {
    const target = moduleToTarget[p.module]!;
    const d = targetDims(shape, target);
    const where = `layer ${p.layer} ${p.module}`;
    if (p.a === undefined || p.b === undefined) {
      problems.push(`${where}: lora_${p.a === undefined ? "A" : "B"} is missing`);
      continue;
    }
    const [aRows, aCols] = p.aShape!, [bRows, bCols] = p.bShape!;
    if (p.aShape!.length !== 2 || aRows !== r || aCols !== d.in) {
      problems.push(`${where}: lora_A is [${p.aShape!.join(", ")}], the served model needs [${r}, ${d.in}]`);
      continue;
    }
    if (p.bShape!.length !== 2 || bRows !== d.out || bCols !== r) {
      problems.push(`${where}: lora_B is [${p.bShape!.join(", ")}], the served model needs [${d.out}, ${r}]`);
      continue;
    }
    let b = p.b;
    if (target === "attn_q") b = permuteRows(b, shape.heads, r);
    if (target === "attn_k") b = permuteRows(b, shape.kvHeads, r);
    tensors.push({ target: `blk.${p.layer}.${target}.weight`, inDim: d.in, outDim: d.out, a: p.a, b });
  }
  if (problems.length > 0) throw new DistillError(`${options.dir}: adapter does not fit ${options.modelPath}: ${problems.join("; ")}`);

  // rsLoRA scales by alpha/√r; llama.cpp by alpha/r, so fold √r into alpha.
  const alpha = config.use_rslora ? config.lora_alpha * Math.sqrt(r) : config.lora_alpha;
  // The writer removes its temp file on failure; say which file could not be written and why (e.g. ENOSPC).
  await writeGguf(
    options.outPath,
    loraAdapterGguf({
      name: options.name ?? config.base_model_name_or_path ?? "peft-import",
      rank: r,
      alpha,
      tensors,
      type: options.type === "f16" ? GgmlType.F16 : GgmlType.F32,
    }),
  ).catch((error: unknown) => {
    throw new DistillError(`cannot write ${options.outPath}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  });
  return {
    outPath: options.outPath,
    rank: r,
    alpha,
    pairs: tensors.length,
    layers: [...new Set([...pairs.values()].map((p) => p.layer))].sort((a, b) => a - b),
    modules: [...new Set([...pairs.values()].map((p) => p.module))].sort(),
  };
}
