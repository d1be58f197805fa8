import { describe, expect, it } from "vitest";
import { mergeHeadsByMeanLogits, stratifiedFolds, trainCrossFittedGate } from "../../src/gate/ensemble.js";
import { GateHead, linearForward } from "../../src/gate/head.js";
import { gateHeadFileSchema } from "../../src/gate/head-format.js";
import { createRng, gaussian } from "../../src/gate/random.js";
import { trainGateHead, type GateSample } from "../../src/gate/train.js";

function blobs(n: number, dim: number, seed: number, separation = 1.5): GateSample[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, (_, i) => {
    const label = i % 3 === 0 ? "apply" : "retain";
    const features = Float32Array.from({ length: dim }, (_, d) => gaussian(rng) * (1 + d / 4) + 0.3 + (label === "apply" && d < 4 ? separation : 0));
    return { features, label };
  });
}

const spec = { kind: "token-embd", pooling: "mean", dim: 12 } as const;

/** Raw logits of a head file, computed from its stored layers (normalisation applied explicitly). */
function logitsOf(file: ReturnType<typeof trainGateHead>["file"], x: Float32Array): number[] {
  let a = Float64Array.from(x, (v, i) => (v - file.normalization.mean[i]!) / (file.normalization.std[i]! > 1e-8 ? file.normalization.std[i]! : 1));
  file.layers.forEach((l, k) => {
    const out = new Float64Array(l.outputs);
    linearForward({ ...l, weight: Float64Array.from(l.weight), bias: Float64Array.from(l.bias) }, a, out);
    if (k < file.layers.length - 1) for (let i = 0; i < out.length; i++) out[i] = 0.5 * out[i]! * (1 + Math.tanh(0.7978845608028654 * (out[i]! + 0.044715 * out[i]! ** 3)));
    a = out;
  });
  return [...a];
}

describe("stratifiedFolds", () => {
  it("puts every sample in exactly one fold, spreads each class evenly, and is seeded", () => {
    const labels = Array.from({ length: 53 }, (_, i) => (i % 4 === 0 ? "apply" : "retain"));
    const folds = stratifiedFolds(labels, 5, 1);
    expect(folds.flat().sort((a, b) => a - b)).toEqual(labels.map((_, i) => i));
    const sizes = folds.map((f) => f.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    for (const f of folds) {
      const apply = f.filter((i) => labels[i] === "apply").length;
      expect(apply).toBeGreaterThanOrEqual(2);
      expect(apply).toBeLessThanOrEqual(3);
    }
    expect(stratifiedFolds(labels, 5, 1)).toEqual(folds);
    expect(stratifiedFolds(labels, 5, 2)).not.toEqual(folds);
  });
});

describe("mergeHeadsByMeanLogits", () => {
  for (const architecture of ["mlp", "logistic"] as const) {
    it(`${architecture}: the merged head's logits are the mean of the heads' logits`, () => {
      const data = blobs(90, 12, 4);
      const files = [0, 1, 2].map((seed) => trainGateHead(data, { features: spec, architecture, hidden: 8, seed, maxEpochs: 5 }).file);
      const merged = mergeHeadsByMeanLogits(files);
      expect(gateHeadFileSchema.safeParse(merged).success).toBe(true);
      expect(merged.layers[0]!.outputs).toBe(architecture === "mlp" ? 24 : 2);
      for (const s of blobs(10, 12, 77)) {
        const want = [0, 1].map((c) => files.reduce((a, f) => a + logitsOf(f, s.features)[c]!, 0) / files.length);
        const got = logitsOf(merged, s.features);
        got.forEach((v, c) => expect(v).toBeCloseTo(want[c]!, 9));
        // The serving head computes the same softmax.
        const p = Math.exp(want[1]!) / (Math.exp(want[0]!) + Math.exp(want[1]!));
        expect(new GateHead(merged).forward(s.features).applyProbability).toBeCloseTo(p, 5);
      }
    });
  }

  it("refuses heads of different shapes", () => {
    const data = blobs(60, 12, 5);
    const a = trainGateHead(data, { features: spec, hidden: 8, maxEpochs: 2 }).file;
    const b = trainGateHead(data, { features: spec, hidden: 4, maxEpochs: 2 }).file;
    expect(() => mergeHeadsByMeanLogits([a, b])).toThrow(RangeError);
    expect(() => mergeHeadsByMeanLogits([])).toThrow(RangeError);
  });
});

describe("trainCrossFittedGate", () => {
  it("learns, reports out-of-fold accuracy over every sample, and is deterministic", () => {
    const data = blobs(200, 12, 6, 2.5);
    const a = trainCrossFittedGate(data, { features: spec, hidden: 16, folds: 4, seed: 3, maxEpochs: 40 });
    expect(a.report.folds).toBe(4);
    expect(a.report.samples.heldOut).toBe(200);
    expect(a.foldReports).toHaveLength(4);
    expect(a.foldReports.map((r) => r.samples.heldOut).reduce((x, y) => x + y, 0)).toBe(200);
    expect(a.outOfFold).toHaveLength(200);
    // Out-of-fold accuracy is what the report says it is.
    const oofCorrect = data.filter((s, i) => (a.outOfFold[i]! > 0.5) === (s.label === "apply")).length;
    expect(a.report.heldOutAccuracy).toBeCloseTo(oofCorrect / 200, 12);
    expect(a.report.heldOutAccuracy).toBeGreaterThan(0.85);
    const test = blobs(200, 12, 99, 2.5);
    const correct = test.filter((s) => (a.head.forward(s.features).applyProbability > 0.5) === (s.label === "apply")).length;
    expect(correct / test.length).toBeGreaterThan(0.85);
    const b = trainCrossFittedGate(data, { features: spec, hidden: 16, folds: 4, seed: 3, maxEpochs: 40 });
    expect(b.file.layers).toEqual(a.file.layers);
    expect(gateHeadFileSchema.parse(JSON.parse(JSON.stringify(a.file))).training.folds).toBe(4);
  });

  it("varies less with the seed than one head does", () => {
    const data = blobs(120, 12, 8, 0.8);
    const probe = blobs(300, 12, 123, 0.8);
    const spread = (train: (seed: number) => GateHead) => {
      const heads = [0, 1, 2, 3].map(train);
      // Mean absolute difference in P(apply) between seeds, over probe prompts.
      let d = 0;
      for (const s of probe) {
        const p = heads.map((h) => h.forward(s.features).applyProbability);
        d += Math.max(...p) - Math.min(...p);
      }
      return d / probe.length;
    };
    const single = spread((seed) => trainGateHead(data, { features: spec, hidden: 32, seed, maxEpochs: 60 }).head);
    const ensemble = spread((seed) => trainCrossFittedGate(data, { features: spec, hidden: 32, folds: 5, seed, maxEpochs: 60 }).head);
    expect(ensemble).toBeLessThan(single);
  });

  it("refuses fewer than two folds", () => {
    expect(() => trainCrossFittedGate(blobs(30, 12, 1), { features: spec, folds: 1 })).toThrow(RangeError);
  });
});

describe("trainGateHead heldOutIndexes", () => {
  it("holds out exactly the given samples", () => {
    const data = blobs(50, 12, 9);
    const { report } = trainGateHead(data, { features: spec, hidden: 8, maxEpochs: 3, heldOutIndexes: [0, 1, 2, 3, 4, 5, 6] });
    expect(report.samples).toMatchObject({ train: 43, heldOut: 7 });
    expect(() => trainGateHead(data, { features: spec, maxEpochs: 1, heldOutIndexes: [50] })).toThrow(RangeError);
  });
});
