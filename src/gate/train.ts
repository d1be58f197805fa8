/**
 * Gate head trainer (used by `prism bootstrap`): class-weighted cross-entropy (weights N/(C·N_c),
 * as PRISM), AdamW with a cosine schedule, a stratified held-out split and early stopping on the
 * held-out loss. Plain TypeScript: a few hundred samples × 576 features train in seconds.
 * Deterministic: the same samples, options and seed give the same weights.
 */
import { z } from "zod";
import { featureSpecSchema, type GateHeadFile } from "./head-format.js";
import { GateHead, gelu } from "./head.js";
import { createRng, shuffleInPlace } from "./random.js";

export interface GateSample {
  readonly features: Float32Array;
  /** Class name, one of `options.classes`. */
  readonly label: string;
  /**
   * How sure the label is (0.5–1, default 1): the training target puts this probability on `label` and
   * the rest on `alternative`, or evenly on the other classes without one (a per-sample soft label, e.g. a
   * label from a judge that is right only part of the time).
   */
  readonly confidence?: number;
  /** The class that gets `1 − confidence` (one of `options.classes`, not `label`). */
  readonly alternative?: string;
}

export const trainGateOptionsSchema = z.object({
  features: featureSpecSchema,
  classes: z.array(z.string().min(1)).min(2).default(["retain", "apply"]),
  applyClasses: z.array(z.string().min(1)).min(1).default(["apply"]),
  architecture: z.enum(["mlp", "logistic"]).default("mlp"),
  hidden: z.number().int().positive().default(256),
  dropout: z.number().min(0).max(0.9).default(0.1),
  learningRate: z.number().positive().default(1e-3),
  weightDecay: z.number().min(0).default(0.01),
  batchSize: z.number().int().positive().default(32),
  maxEpochs: z.number().int().positive().default(200),
  /** Stop after this many epochs without a better held-out loss. */
  patience: z.number().int().positive().default(20),
  heldOutFraction: z.number().min(0).max(0.5).default(0.2),
  threshold: z.number().min(0).max(1).default(0.5),
  seed: z.number().int().default(0),
  /** Explicit held-out samples (indexes into `samples`) instead of a stratified random split. */
  heldOutIndexes: z.array(z.number().int().nonnegative()).optional(),
});
export type TrainGateOptions = z.input<typeof trainGateOptionsSchema>;

export interface GateTrainingReport {
  readonly seed: number;
  readonly architecture: "mlp" | "logistic";
  readonly samples: { readonly train: number; readonly heldOut: number; readonly perClass: Record<string, number> };
  readonly classWeights: Record<string, number>;
  readonly epochs: number;
  readonly bestEpoch: number;
  readonly stoppedBy: "early-stopping" | "max-epochs";
  readonly trainLoss: number;
  readonly heldOutLoss: number | null;
  readonly trainAccuracy: number;
  readonly heldOutAccuracy: number | null;
  readonly heldOutBalancedAccuracy: number | null;
  /** Cross-fitted ensemble (src/gate/ensemble.ts): number of folds/heads; held-out figures are out-of-fold. */
  readonly folds?: number;
}

export interface TrainedGate {
  readonly head: GateHead;
  readonly file: GateHeadFile;
  readonly report: GateTrainingReport;
}

interface Param {
  readonly value: Float32Array;
  readonly grad: Float64Array;
  readonly m: Float64Array;
  readonly v: Float64Array;
}

function param(size: number, init: () => number): Param {
  return {
    value: Float32Array.from({ length: size }, init),
    grad: new Float64Array(size),
    m: new Float64Array(size),
    v: new Float64Array(size),
  };
}

function geluGrad(x: number): number {
  const k = 0.7978845608028654;
  const u = k * (x + 0.044715 * x * x * x);
  const t = Math.tanh(u);
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
}

interface Row {
  readonly x: Float32Array; // normalised
  readonly y: number;
  /** Target probability of class y; the rest goes to class `alternative`, or is spread over the others when it is −1. */
  readonly confidence: number;
  readonly alternative: number;
}

export function trainGateHead(samples: readonly GateSample[], options: TrainGateOptions): TrainedGate {
  const opts = trainGateOptionsSchema.parse(options);
  const dim = opts.features.dim;
  const C = opts.classes.length;
  for (const c of opts.applyClasses) {
    if (!opts.classes.includes(c)) throw new RangeError(`applyClasses: '${c}' is not one of ${opts.classes.join(", ")}`);
  }
  const labelled = samples.map((s, i) => {
    if (s.features.length !== dim) throw new RangeError(`sample ${i}: ${s.features.length} features, expected ${dim}`);
    const y = opts.classes.indexOf(s.label);
    if (y < 0) throw new RangeError(`sample ${i}: unknown label '${s.label}'`);
    const confidence = s.confidence ?? 1;
    if (!(confidence >= 0.5 && confidence <= 1)) throw new RangeError(`sample ${i}: confidence ${confidence} is not in [0.5, 1]`);
    const alternative = s.alternative === undefined ? -1 : opts.classes.indexOf(s.alternative);
    if (s.alternative !== undefined && (alternative < 0 || alternative === y)) {
      throw new RangeError(`sample ${i}: alternative '${s.alternative}' is not another class`);
    }
    return { features: s.features, y, confidence, alternative };
  });
  const perClassCount = opts.classes.map((_, c) => labelled.filter((s) => s.y === c).length);
  if (perClassCount.filter((n) => n > 0).length < 2) {
    throw new RangeError("gate training needs samples of at least two classes");
  }

  // Stratified held-out split (or the caller's).
  const rng = createRng(opts.seed);
  const train: typeof labelled = [];
  const heldOut: typeof labelled = [];
  if (opts.heldOutIndexes) {
    const held = new Set(opts.heldOutIndexes);
    for (const i of held) if (i >= labelled.length) throw new RangeError(`heldOutIndexes: ${i} is not a sample index`);
    labelled.forEach((s, i) => (held.has(i) ? heldOut : train).push(s));
  } else {
    for (let c = 0; c < C; c++) {
      const ofClass = shuffleInPlace(labelled.filter((s) => s.y === c), rng);
      const nHeld = ofClass.length >= 5 ? Math.round(ofClass.length * opts.heldOutFraction) : 0;
      heldOut.push(...ofClass.slice(0, nHeld));
      train.push(...ofClass.slice(nHeld));
    }
  }

  // Normalisation stats from the training split only.
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (const s of train) for (let i = 0; i < dim; i++) mean[i]! += s.features[i]!;
  for (let i = 0; i < dim; i++) mean[i] = mean[i]! / train.length;
  for (const s of train) for (let i = 0; i < dim; i++) sq[i]! += (s.features[i]! - mean[i]!) ** 2;
  const std = Float64Array.from(sq, (v) => Math.sqrt(v / train.length));
  const normalise = (f: Float32Array): Float32Array =>
    Float32Array.from(f, (v, i) => (v - mean[i]!) / (std[i]! > 1e-8 ? std[i]! : 1));
  const row = (s: (typeof labelled)[number]): Row => ({ x: normalise(s.features), y: s.y, confidence: s.confidence, alternative: s.alternative });
  const trainRows: Row[] = train.map(row);
  const heldRows: Row[] = heldOut.map(row);
  const target = (r: Row, c: number) =>
    c === r.y ? r.confidence : r.alternative < 0 ? (1 - r.confidence) / (C - 1) : c === r.alternative ? 1 - r.confidence : 0;

  // PRISM's class weights: N / (C · N_c), counted on the training split.
  const trainCounts = opts.classes.map((_, c) => trainRows.filter((r) => r.y === c).length);
  const classWeight = trainCounts.map((n) => (n > 0 ? trainRows.length / (C * n) : 0));

  const isMlp = opts.architecture === "mlp";
  const H = isMlp ? opts.hidden : 0;
  const uniform = (fanIn: number) => () => (rng() * 2 - 1) / Math.sqrt(fanIn);
  const params: Param[] = isMlp
    ? [param(H * dim, uniform(dim)), param(H, uniform(dim)), param(C * H, uniform(H)), param(C, uniform(H))]
    : [param(C * dim, uniform(dim)), param(C, uniform(dim))];

  const hiddenPre = new Float64Array(H);
  const hiddenAct = new Float64Array(H);
  const mask = new Float64Array(H);
  const logits = new Float64Array(C);
  const dLogits = new Float64Array(C);
  const dHidden = new Float64Array(H);

  /** Forward one row; returns class probabilities in `logits`. With `trainMode`, applies dropout. */
  const forward = (x: Float32Array, trainMode: boolean): Float64Array => {
    if (isMlp) {
      const [W1, b1, W2, b2] = params as [Param, Param, Param, Param];
      const keep = 1 - opts.dropout;
      for (let h = 0; h < H; h++) {
        let acc = b1.value[h]!;
        const row = h * dim;
        for (let i = 0; i < dim; i++) acc += W1.value[row + i]! * x[i]!;
        hiddenPre[h] = acc;
        mask[h] = trainMode && opts.dropout > 0 ? (rng() < keep ? 1 / keep : 0) : 1;
        hiddenAct[h] = gelu(acc) * mask[h]!;
      }
      for (let c = 0; c < C; c++) {
        let acc = b2.value[c]!;
        const row = c * H;
        for (let h = 0; h < H; h++) acc += W2.value[row + h]! * hiddenAct[h]!;
        logits[c] = acc;
      }
    } else {
      const [W, b] = params as [Param, Param];
      for (let c = 0; c < C; c++) {
        let acc = b.value[c]!;
        const row = c * dim;
        for (let i = 0; i < dim; i++) acc += W.value[row + i]! * x[i]!;
        logits[c] = acc;
      }
    }
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += logits[c] = Math.exp(logits[c]! - max);
    for (let c = 0; c < C; c++) logits[c] = logits[c]! / sum;
    return logits;
  };

  const backward = (r: Row, probs: Float64Array, scale: number): void => {
    const x = r.x;
    for (let c = 0; c < C; c++) dLogits[c] = (probs[c]! - target(r, c)) * scale;
    if (isMlp) {
      const [W1, b1, W2, b2] = params as [Param, Param, Param, Param];
      dHidden.fill(0);
      for (let c = 0; c < C; c++) {
        const d = dLogits[c]!;
        b2.grad[c]! += d;
        const row = c * H;
        for (let h = 0; h < H; h++) {
          W2.grad[row + h]! += d * hiddenAct[h]!;
          dHidden[h]! += d * W2.value[row + h]!;
        }
      }
      for (let h = 0; h < H; h++) {
        const d = dHidden[h]! * mask[h]! * geluGrad(hiddenPre[h]!);
        if (d === 0) continue;
        b1.grad[h]! += d;
        const row = h * dim;
        for (let i = 0; i < dim; i++) W1.grad[row + i]! += d * x[i]!;
      }
    } else {
      const [W, b] = params as [Param, Param];
      for (let c = 0; c < C; c++) {
        const d = dLogits[c]!;
        b.grad[c]! += d;
        const row = c * dim;
        for (let i = 0; i < dim; i++) W.grad[row + i]! += d * x[i]!;
      }
    }
  };

  const evaluate = (rows: readonly Row[]) => {
    let loss = 0;
    let weightSum = 0;
    let correct = 0;
    const perClassCorrect = new Array<number>(C).fill(0);
    const perClassTotal = new Array<number>(C).fill(0);
    for (const r of rows) {
      const p = forward(r.x, false);
      const w = classWeight[r.y]!;
      for (let c = 0; c < C; c++) {
        const t = target(r, c);
        if (t > 0) loss -= w * t * Math.log(Math.max(p[c]!, 1e-12));
      }
      weightSum += w;
      let top = 0;
      for (let c = 1; c < C; c++) if (p[c]! > p[top]!) top = c;
      perClassTotal[r.y]!++;
      if (top === r.y) {
        correct++;
        perClassCorrect[r.y]!++;
      }
    }
    const present = perClassTotal.map((t, c) => (t > 0 ? perClassCorrect[c]! / t : null)).filter((v) => v !== null);
    return {
      loss: weightSum > 0 ? loss / weightSum : 0,
      accuracy: rows.length > 0 ? correct / rows.length : 0,
      balanced: present.length > 0 ? present.reduce((a, b) => a + b, 0) / present.length : 0,
    };
  };

  const stepsPerEpoch = Math.ceil(trainRows.length / opts.batchSize);
  const totalSteps = stepsPerEpoch * opts.maxEpochs;
  const beta1 = 0.9;
  const beta2 = 0.999;
  let step = 0;
  let best = { loss: Infinity, epoch: 0, values: params.map((p) => Float32Array.from(p.value)) };
  let epochsRun = 0;
  let stoppedBy: GateTrainingReport["stoppedBy"] = "max-epochs";
  const order = trainRows.map((_, i) => i);

  for (let epoch = 1; epoch <= opts.maxEpochs; epoch++) {
    epochsRun = epoch;
    shuffleInPlace(order, rng);
    for (let start = 0; start < order.length; start += opts.batchSize) {
      const batch = order.slice(start, start + opts.batchSize);
      for (const p of params) p.grad.fill(0);
      // Weighted-mean reduction, as torch's CrossEntropyLoss(weight=...).
      const weightSum = batch.reduce((a, i) => a + classWeight[trainRows[i]!.y]!, 0);
      for (const i of batch) {
        const r = trainRows[i]!;
        const probs = forward(r.x, true);
        backward(r, probs, classWeight[r.y]! / weightSum);
      }
      step++;
      const lr = opts.learningRate * 0.5 * (1 + Math.cos((Math.PI * (step - 1)) / totalSteps));
      const bc1 = 1 - beta1 ** step;
      const bc2 = 1 - beta2 ** step;
      for (const p of params) {
        for (let k = 0; k < p.value.length; k++) {
          const g = p.grad[k]!;
          p.m[k] = beta1 * p.m[k]! + (1 - beta1) * g;
          p.v[k] = beta2 * p.v[k]! + (1 - beta2) * g * g;
          const decayed = p.value[k]! * (1 - lr * opts.weightDecay);
          p.value[k] = decayed - (lr * (p.m[k]! / bc1)) / (Math.sqrt(p.v[k]! / bc2) + 1e-8);
        }
      }
    }
    const monitor = heldRows.length > 0 ? evaluate(heldRows).loss : evaluate(trainRows).loss;
    if (monitor < best.loss - 1e-6) {
      best = { loss: monitor, epoch, values: params.map((p) => Float32Array.from(p.value)) };
    } else if (epoch - best.epoch >= opts.patience) {
      stoppedBy = "early-stopping";
      break;
    }
  }
  params.forEach((p, i) => p.value.set(best.values[i]!));

  const trainEval = evaluate(trainRows);
  const heldEval = heldRows.length > 0 ? evaluate(heldRows) : null;
  const report: GateTrainingReport = {
    seed: opts.seed,
    architecture: opts.architecture,
    samples: {
      train: trainRows.length,
      heldOut: heldRows.length,
      perClass: Object.fromEntries(opts.classes.map((c, i) => [c, perClassCount[i]!])),
    },
    classWeights: Object.fromEntries(opts.classes.map((c, i) => [c, classWeight[i]!])),
    epochs: epochsRun,
    bestEpoch: best.epoch,
    stoppedBy,
    trainLoss: trainEval.loss,
    heldOutLoss: heldEval?.loss ?? null,
    trainAccuracy: trainEval.accuracy,
    heldOutAccuracy: heldEval?.accuracy ?? null,
    heldOutBalancedAccuracy: heldEval?.balanced ?? null,
  };
  const toArray = (p: Param) => Array.from(p.value);
  const layers = isMlp
    ? [
        { inputs: dim, outputs: H, weight: toArray(params[0]!), bias: toArray(params[1]!) },
        { inputs: H, outputs: C, weight: toArray(params[2]!), bias: toArray(params[3]!) },
      ]
    : [{ inputs: dim, outputs: C, weight: toArray(params[0]!), bias: toArray(params[1]!) }];
  const file: GateHeadFile = {
    format: "prism-gate-head",
    version: 1,
    architecture: opts.architecture,
    features: opts.features,
    classes: opts.classes,
    applyClasses: opts.applyClasses,
    threshold: opts.threshold,
    normalization: { mean: Array.from(mean), std: Array.from(std) },
    layers,
    training: { ...report },
  };
  return { head: new GateHead(file), file, report };
}
