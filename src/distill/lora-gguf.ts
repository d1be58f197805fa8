/** Writes trained LoRA params as a llama.cpp GGUF adapter through the project's GGUF writer. */
import { loraAdapterGguf } from "../gguf/llama.js";
import { GgmlType } from "../gguf/types.js";
import { writeGguf } from "../gguf/writer.js";
import type { LoraParams } from "./model/lora.js";
import { type LlamaShape, loraTargets, targetDims } from "./model/shape.js";

export async function writeLoraGguf(
  path: string,
  name: string,
  shape: LlamaShape,
  lora: LoraParams,
  type: "f32" | "f16",
): Promise<void> {
  const tensors = lora.layers.flatMap((layer, l) =>
    layer === null
      ? []
      : loraTargets.map((t) => {
          const d = targetDims(shape, t);
          return { target: `blk.${l}.${t}.weight`, inDim: d.in, outDim: d.out, a: layer[t].a, b: layer[t].b };
        }),
  );
  await writeGguf(
    path,
    loraAdapterGguf({ name, rank: lora.rank, alpha: lora.alpha, tensors, type: type === "f16" ? GgmlType.F16 : GgmlType.F32 }),
  );
}
