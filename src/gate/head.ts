/**
 * Gate head forward pass in plain TypeScript over Float32Arrays. An MLP 576→256→2 is ~150k
 * multiply-adds: a few tens of microseconds, far below the 1 ms budget, so no native code is needed.
 */
import { readFile } from "node:fs/promises";
import { gateHeadFileSchema, type FeatureSpec, type GateHeadFile } from "./head-format.js";

export interface GateOutput {
  /** Softmax over `classes`. */
  readonly probabilities: Float32Array;
  /** Sum of the probabilities of the apply classes. */
  readonly applyProbability: number;
  /** The most probable class. */
  readonly topClass: string;
}

interface Linear {
  readonly inputs: number;
  readonly outputs: number;
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

/** GELU, tanh approximation (as PyTorch's `approximate="tanh"`; the trainer uses the same). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

export function linearForward(layer: Linear, input: Float32Array, out: Float32Array): void {
  const { inputs, outputs, weight, bias } = layer;
  for (let o = 0; o < outputs; o++) {
    let acc = bias[o]!;
    const row = o * inputs;
    for (let i = 0; i < inputs; i++) acc += weight[row + i]! * input[i]!;
    out[o] = acc;
  }
}

export function softmaxInPlace(v: Float32Array): void {
  let max = -Infinity;
  for (const x of v) if (x > max) max = x;
  let sum = 0;
  for (let i = 0; i < v.length; i++) {
    const e = Math.exp(v[i]! - max);
    v[i] = e;
    sum += e;
  }
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / sum;
}

export class GateHead {
  readonly features: FeatureSpec;
  readonly classes: readonly string[];
  readonly threshold: number;
  readonly architecture: GateHeadFile["architecture"];
  private readonly layers: readonly Linear[];
  private readonly mean: Float32Array;
  private readonly invStd: Float32Array;
  private readonly applyIndexes: readonly number[];

  constructor(readonly data: GateHeadFile) {
    this.features = data.features;
    this.classes = data.classes;
    this.threshold = data.threshold;
    this.architecture = data.architecture;
    this.layers = data.layers.map((l) => ({
      inputs: l.inputs,
      outputs: l.outputs,
      weight: Float32Array.from(l.weight),
      bias: Float32Array.from(l.bias),
    }));
    this.mean = Float32Array.from(data.normalization.mean);
    // A constant feature has std 0: treat as 1 so it normalises to 0 instead of NaN.
    this.invStd = Float32Array.from(data.normalization.std, (s) => (s > 1e-8 ? 1 / s : 1));
    this.applyIndexes = data.applyClasses.map((c) => data.classes.indexOf(c));
  }

  static parse(json: unknown): GateHead {
    return new GateHead(gateHeadFileSchema.parse(json));
  }

  static async load(path: string): Promise<GateHead> {
    return GateHead.parse(JSON.parse(await readFile(path, "utf8")) as unknown);
  }

  get inputDim(): number {
    return this.features.dim;
  }

  forward(features: Float32Array): GateOutput {
    if (features.length !== this.features.dim) {
      throw new RangeError(`gate head expects ${this.features.dim} features, got ${features.length}`);
    }
    let x = new Float32Array(features.length);
    for (let i = 0; i < x.length; i++) x[i] = (features[i]! - this.mean[i]!) * this.invStd[i]!;
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l]!;
      const out = new Float32Array(layer.outputs);
      linearForward(layer, x, out);
      if (l < this.layers.length - 1) for (let i = 0; i < out.length; i++) out[i] = gelu(out[i]!);
      x = out;
    }
    softmaxInPlace(x);
    let apply = 0;
    for (const i of this.applyIndexes) apply += x[i]!;
    let top = 0;
    for (let i = 1; i < x.length; i++) if (x[i]! > x[top]!) top = i;
    return { probabilities: x, applyProbability: apply, topClass: this.classes[top]! };
  }
}

export type { GateHeadFile, FeatureSpec };