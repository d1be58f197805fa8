import { describe, expect, it } from "vitest";
import { GateHead } from "../../src/gate/head.js";
import { gateHeadFileSchema } from "../../src/gate/head-format.js";
import { createRng, gaussian } from "../../src/gate/random.js";
import { trainGateHead, type GateSample } from "../../src/gate/train.js";

/** Two Gaussian blobs in `dim` dimensions whose means differ along a few axes. */
function blobs(n: number, dim: number, seed: number, separation = 1.5): GateSample[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, (_, i) => {
    const label = i % 3 === 0 ? "apply" : "retain"; // imbalanced 1:2, exercises class weights
    const features = Float32Array.from({ length: dim }, (_, d) =>
      gaussian(rng) + (label === "apply" && d < 4 ? separation : 0),
    );
    return { features, label };
  });
}

const spec = { kind: "token-embd", pooling: "mean", dim: 16 } as const;

describe("trainGateHead", () => {
  it("learns a separable problem and reports held-out accuracy", () => {
    const { head, report } = trainGateHead(blobs(300, 16, 1), { features: spec, hidden: 32, seed: 7, maxEpochs: 60 });
    expect(report.samples.train + report.samples.heldOut).toBe(300);
    expect(report.samples.heldOut).toBeGreaterThan(40);
    expect(report.heldOutAccuracy).toBeGreaterThan(0.85);
    expect(report.classWeights.apply).toBeGreaterThan(report.classWeights.retain!);
    // Fresh data from the same distribution.
    const test = blobs(200, 16, 99);
    const correct = test.filter((s) => (head.forward(s.features).applyProbability > 0.5) === (s.label === "apply")).length;
    expect(correct / test.length).toBeGreaterThan(0.85);
  });

  it("a soft label (confidence < 1) pulls the head toward that probability, not to certainty", () => {
    // One point, always the same features: the best the head can do is give the target probability.
    const x = Float32Array.from({ length: 16 }, (_, d) => (d < 4 ? 1 : 0));
    const y = Float32Array.from({ length: 16 }, (_, d) => (d < 4 ? -1 : 0));
    const data = (confidence: number): GateSample[] =>
      Array.from({ length: 40 }, (_, i) => (i % 2 ? { features: x, label: "apply", confidence } : { features: y, label: "retain" }));
    const opts = { features: spec, architecture: "logistic", seed: 1, maxEpochs: 300, patience: 300, heldOutFraction: 0, weightDecay: 0, learningRate: 0.05 } as const;
    const hard = trainGateHead(data(1), opts).head.forward(x).applyProbability;
    const soft = trainGateHead(data(0.7), opts).head.forward(x).applyProbability;
    expect(hard).toBeGreaterThan(0.95);
    expect(soft).toBeGreaterThan(0.6);
    expect(soft).toBeLessThan(0.8);
    expect(() => trainGateHead([{ features: x, label: "apply", confidence: 0.4 }, ...data(1)], opts)).toThrow(/confidence/);
    expect(() => trainGateHead([{ features: x, label: "apply", confidence: 0.7, alternative: "apply" }, ...data(1)], opts)).toThrow(/alternative/);
  });

  it("a soft label's rest goes to its alternative class, not spread over all others", () => {
    const classes = ["discriminative", "generative", "safety"];
    const at = (k: number) => Float32Array.from({ length: 16 }, (_, d) => (d === k ? 2 : 0));
    // x0 is discriminative with 0.7, generative 0.3 (its alternative); safety never.
    const data: GateSample[] = Array.from({ length: 60 }, (_, i) =>
      i % 3 === 0
        ? { features: at(0), label: "discriminative", confidence: 0.7, alternative: "generative" }
        : i % 3 === 1
          ? { features: at(1), label: "generative" }
          : { features: at(2), label: "safety" },
    );
    const opts = { features: spec, architecture: "logistic", seed: 1, maxEpochs: 300, patience: 300, heldOutFraction: 0, weightDecay: 0, learningRate: 0.05 } as const;
    const p = trainGateHead(data, { ...opts, classes, applyClasses: ["generative", "safety"] }).head.forward(at(0)).probabilities;
    expect(p[0]).toBeGreaterThan(0.6);
    expect(p[1]).toBeGreaterThan(0.2);
    expect(p[2]).toBeLessThan(0.05);
  });

  it("is deterministic for a seed and differs across seeds", () => {
    const data = blobs(120, 16, 3);
    const a = trainGateHead(data, { features: spec, hidden: 16, seed: 5, maxEpochs: 10 });
    const b = trainGateHead(data, { features: spec, hidden: 16, seed: 5, maxEpochs: 10 });
    const c = trainGateHead(data, { features: spec, hidden: 16, seed: 6, maxEpochs: 10 });
    expect(b.file.layers).toEqual(a.file.layers);
    expect(c.file.layers[0]!.weight).not.toEqual(a.file.layers[0]!.weight);
  });

  it("trains a logistic head and a multi-class head", () => {
    const log = trainGateHead(blobs(200, 16, 4), { features: spec, architecture: "logistic", seed: 1, maxEpochs: 200 });
    expect(log.file.layers).toHaveLength(1);
    expect(log.report.heldOutAccuracy).toBeGreaterThan(0.8);

    const rng = createRng(2);
    const intents = ["generative", "discriminative", "safety"];
    const multi: GateSample[] = Array.from({ length: 240 }, (_, i) => {
      const k = i % 3;
      return { label: intents[k]!, features: Float32Array.from({ length: 16 }, (_, d) => gaussian(rng) + (d === k ? 3 : 0)) };
    });
    const m = trainGateHead(multi, {
      features: spec,
      classes: intents,
      applyClasses: ["generative", "safety"],
      hidden: 32,
      seed: 1,
      maxEpochs: 60,
    });
    expect(m.report.heldOutAccuracy).toBeGreaterThan(0.8);
    const out = m.head.forward(Float32Array.from({ length: 16 }, (_, d) => (d === 2 ? 3 : 0)));
    expect(out.topClass).toBe("safety");
    expect(out.applyProbability).toBeGreaterThan(0.5);
  });

  it("round-trips through the JSON weights file and rejects bad files", () => {
    const { file, head } = trainGateHead(blobs(60, 16, 8), { features: spec, hidden: 8, seed: 1, maxEpochs: 5 });
    const reloaded = GateHead.parse(JSON.parse(JSON.stringify(file)));
    const x = blobs(1, 16, 11)[0]!.features;
    expect(reloaded.forward(x).applyProbability).toBeCloseTo(head.forward(x).applyProbability, 6);

    const nan = structuredClone(file);
    nan.layers[0]!.weight[3] = Number.NaN;
    expect(gateHeadFileSchema.safeParse(nan).success).toBe(false);
    const wrongDim = { ...structuredClone(file), features: { ...spec, dim: 17 } };
    expect(gateHeadFileSchema.safeParse(wrongDim).success).toBe(false);
    expect(() => head.forward(new Float32Array(3))).toThrow(RangeError);
  });

  it("refuses labels outside the classes and single-class data", () => {
    expect(() => trainGateHead([{ features: new Float32Array(16), label: "x" }], { features: spec })).toThrow(/unknown label/);
    const one = blobs(20, 16, 1).map((s) => ({ ...s, label: "apply" }));
    expect(() => trainGateHead(one, { features: spec })).toThrow(/two classes/);
  });
});
