import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { type ControlledEvaluateInputItem, type Token, getLlama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { jsKernels } from "../../src/distill/kernels/matmul.js";
import { loadStudentWeights } from "../../src/distill/model/gguf-student.js";
import { LlamaStudent } from "../../src/distill/model/llama.js";
import type { LoraLayer, LoraParams } from "../../src/distill/model/lora.js";
import { type LlamaShape, loraTargets, targetDims } from "../../src/distill/model/shape.js";
import { importPeftAdapter } from "../../src/distill/peft/import-peft.js";
import { encodeSafetensors } from "../../src/distill/peft/safetensors.js";
import { mulberry32 } from "../../src/random.js";
import { DistillError } from "../../src/errors.js";
import { openGguf } from "../../src/gguf/index.js";
import { TEST_THREADS } from "../helpers/llama.js";

const HF: Record<string, string> = {
  attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj", attn_output: "self_attn.o_proj",
  ffn_gate: "mlp.gate_proj", ffn_up: "mlp.up_proj", ffn_down: "mlp.down_proj",
};

let dir: string;
let modelPath: string;
let shape: LlamaShape;

interface PeftTensor { name: string; shape: number[]; data: Float32Array; dtype?: "F32" | "F16" }

/** A PEFT adapter as PEFT saves it: all seven modules of the given layers, HF row order. */
function peftTensors(rank: number, layers: number[], seed: number): PeftTensor[] {
  const rng = mulberry32(seed);
  const out: PeftTensor[] = [];
  for (const l of layers) {
    for (const t of loraTargets) {
      const d = targetDims(shape, t);
      const base = `base_model.model.model.layers.${l}.${HF[t]}`;
      out.push({ name: `${base}.lora_A.weight`, shape: [rank, d.in], data: Float32Array.from({ length: rank * d.in }, () => (rng() - 0.5) * 0.6) });
      out.push({ name: `${base}.lora_B.weight`, shape: [d.out, rank], data: Float32Array.from({ length: d.out * rank }, () => (rng() - 0.5) * 0.6) });
    }
  }
  return out;
}

async function writePeft(name: string, config: Record<string, unknown>, tensors: PeftTensor[]): Promise<string> {
  const d = join(dir, name);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], ...config }));
  await writeFile(join(d, "adapter_model.safetensors"), encodeSafetensors(tensors));
  return d;
}

/** Independent statement of llama.cpp's q/k permutation: reshape(n_head, 2, hd/2, r).swapaxes(1, 2). */
function hfToGgufRows(b: Float32Array, nHead: number, r: number): Float32Array {
  const rows = b.length / r, hd = rows / nHead;
  const out = new Float32Array(b.length);
  for (let dst = 0; dst < rows; dst++) {
    const h = Math.floor(dst / hd), within = dst % hd;
    const src = h * hd + (within % 2) * (hd / 2) + Math.floor(within / 2);
    for (let c = 0; c < r; c++) out[dst * r + c] = b[src * r + c]!;
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(os.tmpdir(), "prism-peft-"));
  modelPath = inject("fixtures").modelPath;
  shape = (await loadStudentWeights(modelPath)).shape;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("prism adapters import-peft", () => {
  it("converts a PEFT adapter into a GGUF LoRA that the engine applies exactly as the trainer's student does", async () => {
    const tensors = peftTensors(4, [1], 3);
    tensors.forEach((t, i) => { if (i % 3 === 0) t.dtype = "F16"; });
    const peftDir = await writePeft("good", {}, tensors);
    const outPath = join(dir, "good.gguf");
    const r = await importPeftAdapter({ dir: peftDir, modelPath, outPath });
    expect(r).toMatchObject({ rank: 4, alpha: 8, pairs: 7, layers: [1] });

    const gguf = await openGguf(outPath);
    expect(gguf.metadata.string("adapter.type")).toBe("lora");
    expect(gguf.tensor("blk.1.attn_q.weight.lora_a").shape).toEqual([shape.dim, 4]);
    expect(gguf.tensor("blk.1.attn_q.weight.lora_b").shape).toEqual([4, shape.heads * shape.headDim]);
    const qB = await gguf.readTensor("blk.1.attn_q.weight.lora_b");
    const kB = await gguf.readTensor("blk.1.attn_k.weight.lora_b");
    const vB = await gguf.readTensor("blk.1.attn_v.weight.lora_b");
    const hfB = (t: string) => tensors.find((x) => x.name === `base_model.model.model.layers.1.${HF[t]}.lora_B.weight`)!;
    // F16-stored tensors round to ~1.5e-4 at these magnitudes; 2e-3 tolerates that and nothing else.
    const asStored = (t: PeftTensor) => t.data;
    const close = (a: Float32Array, b: Float32Array) => a.every((v, i) => Math.abs(v - b[i]!) < 2e-3);
    expect(close(qB, hfToGgufRows(asStored(hfB("attn_q")), shape.heads, 4))).toBe(true);
    expect(close(kB, hfToGgufRows(asStored(hfB("attn_k")), shape.kvHeads, 4))).toBe(true);
    expect(close(vB, asStored(hfB("attn_v")))).toBe(true); // v is not permuted
    // And q really is permuted (the check above is not vacuous).
    expect(close(qB, asStored(hfB("attn_q")))).toBe(false);

    // The engine with the imported adapter gives the same logits as the student with the same LoRA tensors.
    const layer = {} as Record<string, { a: Float32Array; b: Float32Array }>;
    for (const t of loraTargets) layer[t] = { a: await gguf.readTensor(`blk.1.${t}.weight.lora_a`), b: await gguf.readTensor(`blk.1.${t}.weight.lora_b`) };
    await gguf.close();
    const lora: LoraParams = { rank: 4, alpha: 8, layers: [null, layer as unknown as LoraLayer] };
    const weights = await loadStudentWeights(modelPath);
    const tokens = Array.from({ length: 12 }, (_, i) => (i * 53 + 11) % shape.vocab);
    const student = new LlamaStudent(weights, jsKernels);
    const ours = student.logits(tokens, lora);
    const plain = student.logits(tokens, null);
    const llama = await getLlama({ gpu: false, maxThreads: TEST_THREADS, build: "never" });
    const model = await llama.loadModel({ modelPath });
    const ctx = await model.createContext({ contextSize: 128, threads: TEST_THREADS, lora: { adapters: [{ filePath: outPath, scale: 1 }] } });
    const input: ControlledEvaluateInputItem[] = tokens.map((t) => [t as Token, { generateNext: { logits: true } }]);
    const out = await ctx.getSequence().controlledEvaluate(input);
    await ctx.dispose(); await model.dispose(); await llama.dispose();
    let maxDiff = 0, moved = 0;
    out.forEach((o, p) => {
      for (const [id, v] of o!.next.logits!) {
        maxDiff = Math.max(maxDiff, Math.abs(v - ours[p * shape.vocab + id]!));
        moved = Math.max(moved, Math.abs(v - plain[p * shape.vocab + id]!));
      }
    });
    expect(moved).toBeGreaterThan(0.5); // the adapter changes the output…
    expect(maxDiff).toBeLessThan(0.05); // …exactly as the student computes it (F16 activations in the engine)
  }, 120_000);

  it("folds rsLoRA's alpha/√r scaling into the GGUF alpha", async () => {
    const peftDir = await writePeft("rslora", { use_rslora: true }, peftTensors(4, [1], 4));
    const r = await importPeftAdapter({ dir: peftDir, modelPath, outPath: join(dir, "rs.gguf") });
    expect(r.alpha).toBeCloseTo(16);
  });

  it("refuses wrong base shapes, unknown modules, missing halves and unsupported PEFT features with clear errors", async () => {
    const cases: [string, Record<string, unknown>, PeftTensor[], RegExp][] = [
      ["rank-mismatch", { r: 8 }, peftTensors(4, [1], 5), /lora_A is \[4, \d+\], the served model needs \[8, \d+\]/],
      ["bad-layer", {}, peftTensors(4, [7], 5), /layer 7 does not exist \(the served model has 2\)/],
      ["embed", {}, [{ name: "base_model.model.model.embed_tokens.lora_embedding_A", shape: [4, 8], data: new Float32Array(32) }], /not a llama-family LoRA tensor/],
      ["missing-b", {}, peftTensors(4, [1], 5).filter((t) => !t.name.endsWith("q_proj.lora_B.weight")), /layer 1 q_proj: lora_B is missing/],
      ["dora", { use_dora: true }, peftTensors(4, [1], 5), /DoRA/],
      ["ia3", { peft_type: "IA3" }, peftTensors(4, [1], 5), /only peft_type LORA/],
    ];
    for (const [name, config, tensors, message] of cases) {
      const peftDir = await writePeft(name, config, tensors);
      await expect(importPeftAdapter({ dir: peftDir, modelPath, outPath: join(dir, `${name}.gguf`) }), name).rejects.toThrow(message);
    }
    // A wider model's adapter (other hidden size) is refused on shape.
    const wide = peftTensors(4, [1], 6).map((t) => (t.name.endsWith("lora_A.weight") ? { ...t, shape: [4, t.shape[1]! * 2], data: new Float32Array(t.data.length * 2) } : t));
    await expect(importPeftAdapter({ dir: await writePeft("wide", {}, wide), modelPath, outPath: join(dir, "wide.gguf") })).rejects.toThrow(DistillError);
  });

  it("rejects corrupt safetensors files without reading past the end", async () => {
    const peftDir = await writePeft("corrupt", {}, peftTensors(4, [1], 7));
    const bytes = Buffer.from(encodeSafetensors(peftTensors(4, [1], 7)));
    const truncated = bytes.subarray(0, bytes.length - 100);
    await writeFile(join(peftDir, "adapter_model.safetensors"), truncated);
    await expect(importPeftAdapter({ dir: peftDir, modelPath, outPath: join(dir, "c.gguf") })).rejects.toThrow(/outside the data section/);
    const lying = Buffer.from(bytes);
    lying.writeBigUInt64LE(1n << 40n, 0);
    await writeFile(join(peftDir, "adapter_model.safetensors"), lying);
    await expect(importPeftAdapter({ dir: peftDir, modelPath, outPath: join(dir, "c.gguf") })).rejects.toThrow(/header length/);
    await expect(importPeftAdapter({ dir: join(dir, "nope"), modelPath, outPath: join(dir, "c.gguf") })).rejects.toThrow(/cannot read PEFT config/);
  });
});
