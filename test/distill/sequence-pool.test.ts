import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { WasmKernels } from "../../src/distill/kernels/wasm.js";
import { LlamaStudent } from "../../src/distill/model/llama.js";
import { type LoraParams, initLora, loraArrays, shareLora, zerosLike } from "../../src/distill/model/lora.js";
import { type LlamaShape, loraTargets } from "../../src/distill/model/shape.js";
import { randomStudentWeights, shareStudentWeights } from "../../src/distill/model/weights.js";
import { distillConfigSchema } from "../../src/distill/train/config.js";
import type { DistillSample } from "../../src/distill/train/dataset.js";
import { runMicroStep } from "../../src/distill/train/micro-step.js";
import { SequencePool, scheduleRounds } from "../../src/distill/train/sequence-pool.js";
import { trainDistill } from "../../src/distill/train/trainer.js";
import { DistillError } from "../../src/errors.js";
import { mulberry32 } from "../../src/random.js";

// Every projection a multiple of 4, so the weights are pinned and the workers use the owner's pinned copies.
const shape: LlamaShape = {
  layers: 3, dim: 16, ffnDim: 24, heads: 4, kvHeads: 2, headDim: 4, vocab: 40,
  rmsEps: 1e-5, ropeBase: 10000, tiedOutput: false,
};
const settings = { temperature: 2, dropout: 0.1, seed: 5 };
const disposers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of disposers) await d();
});

function samples(rng: () => number, count: number): DistillSample[] {
  return Array.from({ length: count }, (_, s) => {
    const length = 6 + ((s * 5) % 9);
    const tokens = Int32Array.from({ length }, () => Math.floor(rng() * shape.vocab));
    const lossPositions = Array.from({ length: Math.ceil(length / 2) }, (_, j) => Math.floor(length / 2) - 1 + j);
    const k = 5;
    return {
      id: `s${s}`,
      tokens,
      lossPositions,
      topK: k,
      teacherIds: Uint32Array.from({ length: lossPositions.length * k }, () => Math.floor(rng() * shape.vocab)),
      teacherLogits: Float32Array.from({ length: lossPositions.length * k }, () => rng() * 6),
      ...(s % 3 === 2 ? { weight: 0.5 } : {}),
    };
  });
}

/** A student over shared weights with one-thread wasm kernels, plus a pool of `workers` sequence workers. */
async function pooled(workers: number, maxTokensInFlight?: number) {
  const weights = shareStudentWeights(randomStudentWeights(shape, mulberry32(7), 0.5));
  const kernels = await WasmKernels.create(1);
  const student = new LlamaStudent(weights, kernels);
  const pool = await SequencePool.create(student, workers, { arenaBytes: 8 * 2 ** 20, ...(maxTokensInFlight ? { maxTokensInFlight } : {}) });
  disposers.push(() => pool.close(), () => kernels.dispose());
  return { weights, student, pool };
}

function loraFor(seed: number): LoraParams {
  const rng = mulberry32(seed);
  const lora = initLora(shape, 4, 8, rng);
  for (const layer of lora.layers) if (layer) for (const t of loraTargets) layer[t].b.forEach((_, i, b) => (b[i] = (rng() * 2 - 1) * 0.3));
  return shareLora(lora);
}

function maxRelDiff(a: LoraParams, b: LoraParams): number {
  const x = loraArrays(a), y = loraArrays(b);
  let scale = 0, diff = 0;
  x.forEach((arr, i) => arr.forEach((v, j) => {
    scale = Math.max(scale, Math.abs(v));
    diff = Math.max(diff, Math.abs(v - y[i]![j]!));
  }));
  return diff / scale;
}

describe("sequence pool (one sequence per thread)", () => {
  it("schedules rounds of at most `threads` jobs and `maxTokensInFlight` tokens, longest first with the longest that fit", () => {
    expect(scheduleRounds([5, 5, 5, 5, 5], 2, 100)).toEqual([[0, 1], [2, 3], [4]]);
    // In order, 700+600 would not fit and both would run alone; paired by fit, every round holds two.
    expect(scheduleRounds([700, 600, 300, 200], 2, 1024)).toEqual([[0, 2], [1, 3]]);
    expect(scheduleRounds([600, 500, 300, 1200, 100, 100], 2, 1024)).toEqual([[3], [0, 2], [1, 4], [5]]);
    expect(scheduleRounds([4, 4, 4], 3, 8)).toEqual([[0, 1], [2]]);
    expect(scheduleRounds([], 2, 10)).toEqual([]);
    // Every job exactly once, within both limits, for random lengths.
    const rng = mulberry32(12);
    for (let trial = 0; trial < 50; trial++) {
      const lengths = Array.from({ length: 1 + Math.floor(rng() * 20) }, () => 1 + Math.floor(rng() * 1500));
      const rounds = scheduleRounds(lengths, 3, 1024);
      expect(rounds.flat().sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
      for (const r of rounds) {
        expect(r.length).toBeLessThanOrEqual(3);
        if (r.length > 1) expect(r.reduce((n, i) => n + lengths[i]!, 0)).toBeLessThanOrEqual(1024);
      }
    }
  });

  for (const [workers, inFlight] of [[1, undefined], [2, undefined], [2, 20]] as const) {
    it(`gives each sample's loss exactly and the group's gradients to float rounding (${workers + 1} threads, ${inFlight ?? 1024} tokens in flight)`, async () => {
      const { weights, student, pool } = await pooled(workers, inFlight);
      const lora = loraFor(11);
      const jobs = samples(mulberry32(3), 5).map((sample, i) => ({ sample, micro: 40 + i }));

      const grads = zerosLike(lora);
      const results = await pool.run(jobs, lora, grads, settings);

      // Reference: the same micro-steps one after the other on a separate one-thread student.
      const refKernels = await WasmKernels.create(1);
      disposers.push(() => refKernels.dispose());
      const ref = new LlamaStudent(weights, refKernels);
      const refGrads = zerosLike(lora);
      const refResults = jobs.map((j) => runMicroStep(ref, j.sample, j.micro, lora, refGrads, settings));

      expect(results.map((r) => r.tokens)).toEqual(refResults.map((r) => r.tokens));
      expect(results.map((r) => r.loss)).toEqual(refResults.map((r) => r.loss));
      expect(loraArrays(refGrads).some((g) => g.some((v) => v !== 0))).toBe(true);
      expect(maxRelDiff(grads, refGrads)).toBeLessThan(1e-5);

      // A second group reuses the workers' gradient buffers: they must start from zero again.
      const again = zerosLike(lora);
      await pool.run(jobs, lora, again, settings);
      expect(maxRelDiff(again, grads)).toBe(0);
      expect(student.kernels).toBeInstanceOf(WasmKernels);
    });
  }

  it("trains to the same losses and adapter as one sequence at a time", async () => {
    const { student, pool } = await pooled(1);
    const all = samples(mulberry32(9), 9);
    const train = all.slice(0, 6), heldOut = all.slice(6);
    const config = distillConfigSchema.parse({ rank: 4, alpha: 8, steps: 4, accumulation: 3, learningRate: 5e-2, dropout: 0.1 });
    const dir = await mkdtemp(join(tmpdir(), "prism-seqpool-"));
    try {
      const common = { student, train, heldOut, config, dataHash: "h" };
      const seq = await trainDistill({ ...common, checkpointDir: join(dir, "a") });
      const par = await trainDistill({ ...common, checkpointDir: join(dir, "b"), pool });
      expect(par.losses).toHaveLength(4);
      par.losses.forEach((l, i) => expect(l).toBeCloseTo(seq.losses[i]!, 5));
      // B starts at 0: a moved B shows the updates happened (so equal adapters are not two untouched inits).
      expect(seq.lora.layers[1]!.attn_q.b.some((v) => v !== 0)).toBe(true);
      expect(maxRelDiff(par.lora, seq.lora)).toBeLessThan(1e-4);
      // Held-out KL measured across the threads: the same per-sample sums, added in the same order.
      expect(par.heldOutKlBefore).toBe(seq.heldOutKlBefore);
      expect(par.heldOutKlAfter!).toBeCloseTo(seq.heldOutKlAfter!, 4);
      expect(seq.heldOutKlAfter!).not.toBe(seq.heldOutKlBefore);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses parameters or weights outside shared memory", async () => {
    const { pool } = await pooled(1);
    const plain = initLora(shape, 4, 8, mulberry32(1));
    const jobs = samples(mulberry32(2), 2).map((sample, i) => ({ sample, micro: i }));
    await expect(pool.run(jobs, plain, zerosLike(plain), settings)).rejects.toThrow(DistillError);

    const kernels = await WasmKernels.create(1);
    disposers.push(() => kernels.dispose());
    const unshared = new LlamaStudent(randomStudentWeights(shape, mulberry32(4)), kernels);
    await expect(SequencePool.create(unshared, 1)).rejects.toThrow(/shared memory/);
  });

  it("a failing sample fails the group with a clear error, on a worker or on the calling thread", async () => {
    const { pool } = await pooled(1);
    const lora = loraFor(2);
    const [good] = samples(mulberry32(6), 1);
    const bad = { ...good!, tokens: Int32Array.from(good!.tokens, (t, i) => (i === 1 ? shape.vocab + 5 : t)) };
    // Equal lengths, so job 0 runs on the calling thread and job 1 on the worker.
    await expect(pool.run([{ sample: good!, micro: 0 }, { sample: bad, micro: 1 }], lora, zerosLike(lora), settings)).rejects.toThrow(
      /sequence worker: token id 45 outside the vocabulary/,
    );
    await expect(pool.run([{ sample: bad, micro: 0 }, { sample: good!, micro: 1 }], lora, zerosLike(lora), settings)).rejects.toThrow(
      /token id 45 outside the vocabulary/,
    );
    await expect(pool.kl([good!, bad], lora, 2)).rejects.toThrow(/sequence worker: token id 45/);
    // The pool still works afterwards: the same sample and micro-step (dropout mask) on both threads, same loss.
    const ok = await pool.run([{ sample: good!, micro: 0 }, { sample: good!, micro: 0 }], lora, zerosLike(lora), settings);
    expect(ok[0]!.loss).toBe(ok[1]!.loss);
  });

  it("attached kernels refuse a pin that does not match the owner's", async () => {
    const owner = await WasmKernels.create(1);
    disposers.push(() => owner.dispose());
    owner.pinFrozen(new Float32Array(8 * 4), 8, 4);
    const [share] = owner.shareArenas(1, 2 ** 20);
    expect(() => owner.pinFrozen(new Float32Array(16), 4, 4)).toThrow(/before the kernel memory is shared/);
    const attached = await WasmKernels.attach(share!);
    expect(() => attached.pinFrozen(new Float32Array(16), 4, 4)).toThrow(/pin 0 is \[4, 4\], the owner's is \[8, 4\]/);
    // A product larger than its arena is an error, not a write into the next thread's arena.
    const big = new Float32Array(512 * 512);
    expect(() => attached.nt(big, big, new Float32Array(512 * 512), 512, 512, 512, false)).toThrow(/arena full/);
  });
});
