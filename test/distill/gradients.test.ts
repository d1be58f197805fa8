import { describe, expect, it } from "vitest";
import { jsKernels } from "../../src/distill/kernels/matmul.js";
import { WasmKernels } from "../../src/distill/kernels/wasm.js";
import type { MatmulKernels } from "../../src/distill/kernels/matmul.js";
import { LlamaStudent, droppedIndices } from "../../src/distill/model/llama.js";
import { initLora, type LoraParams, zerosLike } from "../../src/distill/model/lora.js";
import { type LlamaShape, loraTargets } from "../../src/distill/model/shape.js";
import { randomStudentWeights } from "../../src/distill/model/weights.js";
import { topKDistillLoss } from "../../src/distill/train/kl-loss.js";
import { mulberry32 } from "../../src/random.js";

const shape: LlamaShape = {
  layers: 3, dim: 16, ffnDim: 24, heads: 4, kvHeads: 2, headDim: 4, vocab: 40,
  rmsEps: 1e-5, ropeBase: 10000, tiedOutput: true,
};

function setup(seed: number, kernels: MatmulKernels = jsKernels) {
  const rng = mulberry32(seed);
  const weights = randomStudentWeights(shape, rng, 0.5);
  const student = new LlamaStudent(weights, kernels);
  const lora = initLora(shape, 4, 8, rng);
  // Non-zero B so gradients flow into A too (PEFT starts at B=0).
  for (const layer of lora.layers) if (layer) for (const t of loraTargets) layer[t].b.forEach((_, i, b) => (b[i] = (rng() * 2 - 1) * 0.3));
  const tokens = Array.from({ length: 9 }, () => Math.floor(rng() * shape.vocab));
  const positions = [4, 5, 6, 7];
  const teacher = positions.map(() => {
    const ids = [0, 1, 2, 3, 4, 5].map(() => Math.floor(rng() * shape.vocab));
    return { ids: [...new Set(ids)], logits: [...new Set(ids)].map(() => rng() * 6) };
  });
  const loss = (p: number, logits: Float32Array, grad: Float32Array) => {
    const t = teacher[positions.indexOf(p)]!;
    return topKDistillLoss(logits, t.ids, t.logits, 2, grad);
  };
  const lossOnly = (l: LoraParams) => {
    const logits = student.logits(tokens, l, positions);
    let sum = 0;
    positions.forEach((_, i) => {
      const t = teacher[i]!;
      sum += topKDistillLoss(logits.subarray(i * shape.vocab, (i + 1) * shape.vocab), t.ids, t.logits, 2, null);
    });
    return sum;
  };
  return { student, lora, tokens, positions, loss, lossOnly };
}

describe("LoRA backward", () => {
  it("distillation loss gradient matches finite differences of the loss itself", () => {
    const rng = mulberry32(3);
    const logits = Float32Array.from({ length: 30 }, () => rng() * 8 - 4);
    const ids = [3, 7, 11, 20];
    const tl = [2, 1.5, 0.2, -1];
    const grad = new Float32Array(30);
    topKDistillLoss(logits, ids, tl, 2, grad);
    for (let i = 0; i < 30; i++) {
      const h = 1e-2;
      const p = Float32Array.from(logits); p[i] = p[i]! + h;
      const m = Float32Array.from(logits); m[i] = m[i]! - h;
      const fd = (topKDistillLoss(p, ids, tl, 2, null) - topKDistillLoss(m, ids, tl, 2, null)) / (2 * h);
      expect(grad[i]!).toBeCloseTo(fd, 3);
    }
    // KL of a distribution with itself is 0 and positive otherwise.
    expect(topKDistillLoss(logits, ids, tl, 2, null)).toBeGreaterThan(0);
  });

  it("analytic LoRA gradients pass central finite-difference checks on every target and layer", () => {
    const { student, lora, tokens, positions, loss, lossOnly } = setup(11);
    const grads = zerosLike(lora);
    const total = student.forwardBackward(tokens, lora, grads, positions, loss);
    expect(total).toBeCloseTo(lossOnly(lora), 4);
    const rng = mulberry32(5);
    let checked = 0;
    let worst = 0;
    for (let l = 1; l < shape.layers; l++) {
      for (const t of loraTargets) {
        for (const which of ["a", "b"] as const) {
          const param = lora.layers[l]![t][which];
          const grad = grads.layers[l]![t][which];
          for (let n = 0; n < 3; n++) {
            const i = Math.floor(rng() * param.length);
            const orig = param[i]!;
            const h = 1e-2;
            param[i] = orig + h;
            const lp = lossOnly(lora);
            param[i] = orig - h;
            const lm = lossOnly(lora);
            param[i] = orig;
            const fd = (lp - lm) / (2 * h);
            const err = Math.abs(fd - grad[i]!) / Math.max(1e-3, Math.abs(fd) + Math.abs(grad[i]!));
            worst = Math.max(worst, err);
            expect(err, `layer ${l} ${t}.${which}[${i}] analytic ${grad[i]} fd ${fd}`).toBeLessThan(2e-2);
            checked++;
          }
        }
      }
    }
    expect(checked).toBe(2 * 7 * 2 * 3);
    expect(worst).toBeLessThan(2e-2);
    // Layer 0 is not adapted: no gradient arrays there.
    expect(grads.layers[0]).toBeNull();
  });

  it("dropout is deterministic for a seed and its backward matches finite differences with the same mask", () => {
    const { student, lora, tokens, positions, loss } = setup(21);
    const run = (l: LoraParams, g: LoraParams) =>
      student.forwardBackward(tokens, l, g, positions, loss, { dropout: 0.3, rng: mulberry32(99) });
    const g1 = zerosLike(lora);
    const l1 = run(lora, g1);
    const g2 = zerosLike(lora);
    expect(run(lora, g2)).toBe(l1);
    expect(g2.layers[2]!.ffn_up.a).toEqual(g1.layers[2]!.ffn_up.a);
    const param = lora.layers[2]!.attn_v.a;
    const i = 5;
    const orig = param[i]!;
    const h = 1e-2;
    param[i] = orig + h;
    const lp = run(lora, zerosLike(lora));
    param[i] = orig - h;
    const lm = run(lora, zerosLike(lora));
    param[i] = orig;
    const fd = (lp - lm) / (2 * h);
    expect(Math.abs(fd - g1.layers[2]!.attn_v.a[i]!)).toBeLessThan(2e-2 * Math.max(1e-3, Math.abs(fd)) + 1e-4);
  });

  it("dropout's geometric-gap sampling drops i.i.d. Bernoulli(p): rate p, neighbours independent, in range, sorted", () => {
    for (const p of [0.05, 0.3]) {
      const n = 400_000;
      const idx = droppedIndices(n, p, mulberry32(7));
      const rate = idx.length / n;
      expect(Math.abs(rate - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n));
      let pairs = 0;
      for (let i = 1; i < idx.length; i++) {
        expect(idx[i]!).toBeGreaterThan(idx[i - 1]!);
        if (idx[i] === idx[i - 1]! + 1) pairs++;
      }
      expect(idx[0]!).toBeGreaterThanOrEqual(0);
      expect(idx[idx.length - 1]!).toBeLessThan(n);
      // P(i and i+1 both dropped) = p² for independent draws.
      expect(Math.abs(pairs / n - p * p)).toBeLessThan(5 * Math.sqrt((p * p) / n));
    }
  });

  it("blocked causal attention (blocks of 2 and 4 query rows) gives the loss and gradients of one full block", () => {
    const results = [2, 4, 1024].map((attentionBlock) => {
      const rng = mulberry32(41);
      const weights = randomStudentWeights(shape, rng, 0.5);
      const student = new LlamaStudent(weights, jsKernels, { attentionBlock });
      const lora = initLora(shape, 4, 8, rng);
      for (const layer of lora.layers) if (layer) for (const t of loraTargets) layer[t].b.forEach((_, i, b) => (b[i] = (rng() * 2 - 1) * 0.3));
      const tokens = Array.from({ length: 11 }, () => Math.floor(rng() * shape.vocab));
      const grads = zerosLike(lora);
      const loss = student.forwardBackward(tokens, lora, grads, [3, 6, 9, 10], (_p, logits, g) => topKDistillLoss(logits, [1, 2, 3], [2, 1, 0], 2, g));
      return { loss, grads, logits: student.logits(tokens, lora) };
    });
    const full = results[2]!;
    for (const r of results.slice(0, 2)) {
      expect(r.loss).toBeCloseTo(full.loss, 4);
      for (let i = 0; i < full.logits.length; i++) expect(r.logits[i]!).toBeCloseTo(full.logits[i]!, 4);
      for (let l = 1; l < shape.layers; l++) {
        for (const t of loraTargets) {
          const x = r.grads.layers[l]![t].a, y = full.grads.layers[l]![t].a;
          for (let i = 0; i < x.length; i++) expect(x[i]!).toBeCloseTo(y[i]!, 4);
        }
      }
    }
  });

  it("WebAssembly kernels (2 threads) give the same loss and gradients as the JavaScript kernels", async () => {
    const wasm = await WasmKernels.create(2);
    try {
      const a = setup(31);
      const b = setup(31, wasm);
      const ga = zerosLike(a.lora), gb = zerosLike(b.lora);
      const la = a.student.forwardBackward(a.tokens, a.lora, ga, a.positions, a.loss);
      const lb = b.student.forwardBackward(b.tokens, b.lora, gb, b.positions, b.loss);
      expect(lb).toBeCloseTo(la, 4);
      for (let l = 1; l < shape.layers; l++) {
        for (const t of loraTargets) {
          for (const w of ["a", "b"] as const) {
            const x = ga.layers[l]![t][w], y = gb.layers[l]![t][w];
            let maxDiff = 0, maxAbs = 0;
            for (let i = 0; i < x.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(x[i]! - y[i]!)); maxAbs = Math.max(maxAbs, Math.abs(x[i]!)); }
            expect(maxAbs).toBeGreaterThan(0);
            expect(maxDiff, `layer ${l} ${t}.${w}`).toBeLessThan(1e-4 * Math.max(1, maxAbs));
          }
        }
      }
    } finally {
      await wasm.dispose();
    }
  });
});
