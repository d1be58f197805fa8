/**
 * The gate head's forward pass (normalisation folded into the first layer, float64 dot products) against
 * a plain reference written from the file format's definition: normalise → Linear → GELU → Linear → softmax.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gelu, GateHead } from "../../src/gate/head.js";
import type { GateHeadFile } from "../../src/gate/head-format.js";

function reference(file: GateHeadFile, x: Float32Array): number[] {
  let v = Array.from(x, (xi, i) => (xi - file.normalization.mean[i]!) / (file.normalization.std[i]! > 1e-8 ? file.normalization.std[i]! : 1));
  file.layers.forEach((layer, l) => {
    const out: number[] = [];
    for (let o = 0; o < layer.outputs; o++) {
      let acc = layer.bias[o]!;
      for (let i = 0; i < layer.inputs; i++) acc += layer.weight[o * layer.inputs + i]! * v[i]!;
      out.push(l < file.layers.length - 1 ? gelu(acc) : acc);
    }
    v = out;
  });
  const max = Math.max(...v);
  const exps = v.map((z) => Math.exp(z - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

const floats = (n: number, min = -2, max = 2) => fc.array(fc.double({ min, max, noNaN: true }), { minLength: n, maxLength: n });

describe("GateHead.forward", () => {
  it("matches the reference MLP and logistic heads, constant (std 0) features included", () => {
    const dim = 7;
    const hidden = 5;
    fc.assert(
      fc.property(
        fc.boolean(),
        floats(dim),
        floats(dim, 0, 3),
        floats(dim * hidden),
        floats(hidden),
        floats(hidden * 3),
        floats(3),
        floats(dim, -5, 5),
        (mlp, mean, std, w1, b1, w2, b2, input) => {
          const layers = mlp
            ? [
                { inputs: dim, outputs: hidden, weight: w1, bias: b1 },
                { inputs: hidden, outputs: 3, weight: w2, bias: b2 },
              ]
            : [{ inputs: dim, outputs: 3, weight: w1.slice(0, dim * 3), bias: b2 }];
          const file: GateHeadFile = {
            format: "prism-gate-head",
            version: 1,
            architecture: mlp ? "mlp" : "logistic",
            features: { kind: "token-embd", pooling: "mean", dim },
            classes: ["retain", "generative", "safety"],
            applyClasses: ["generative", "safety"],
            threshold: 0.5,
            normalization: { mean, std: std.map((s, i) => (i === 0 ? 0 : s)) },
            layers,
            training: {},
          };
          const x = Float32Array.from(input);
          const want = reference(file, x);
          const head = new GateHead(file);
          const got = head.forward(x);
          want.forEach((p, i) => expect(got.probabilities[i]).toBeCloseTo(p, 5));
          expect(got.applyProbability).toBeCloseTo(want[1]! + want[2]!, 5);
          // Scratch buffers are reused: a second call on other input must not leak state from the first.
          head.forward(Float32Array.from(input, (v) => -v));
          expect(Array.from(head.forward(x).probabilities)).toEqual(Array.from(got.probabilities));
        },
      ),
      { numRuns: 200, seed: 7 },
    );
  });

  it("refuses features of the wrong length", () => {
    const head = new GateHead({
      format: "prism-gate-head", version: 1, architecture: "logistic", features: { kind: "token-embd", pooling: "mean", dim: 2 },
      classes: ["retain", "apply"], applyClasses: ["apply"], threshold: 0.5, normalization: { mean: [0, 0], std: [1, 1] },
      layers: [{ inputs: 2, outputs: 2, weight: [1, 0, 0, 1], bias: [0, 0] }], training: {},
    });
    expect(() => head.forward(new Float32Array(3))).toThrow(RangeError);
  });
});
