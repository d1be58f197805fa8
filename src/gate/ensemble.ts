/**
 * Cross-fitted gate: K heads, each trained with one stratified fold held out (early stopping on that
 * fold), their logits averaged.
 *
 * Why: on a few hundred self-generated samples in 576+ dimensions one head's decisions depend on the
 * trainer's seed (which 20% is held out, initialisation, dropout): on SmolLM2-135M the dev share routed
 * to the adapter moved by ±6 points between seeds with the same data. Averaging heads trained on
 * different folds cancels most of that, every sample trains K−1 heads, and each sample is held out
 * exactly once, so the out-of-fold predictions give an honest held-out accuracy over all samples.
 *
 * Averaged logits of K heads of one shape are one head: each head's input normalisation is folded
 * into its first layer, the first layers are stacked (MLP: K·hidden units side by side) and the last
 * layers are scaled by 1/K and summed. The pack's `gate.json` format and the serving code stay as
 * they are, and the decision costs one forward pass of the merged head.
 */
import type { GateHeadFile, LinearLayerData } from "./head-format.js";
import { GateHead } from "./head.js";
import { createRng, shuffleInPlace } from "./random.js";
import { trainGateHead, trainGateOptionsSchema, type GateSample, type GateTrainingReport, type TrainGateOptions, type TrainedGate } from "./train.js";

export interface CrossFittedGate extends TrainedGate {
  /** Per sample (input order): P(apply) from the one head that did not train on it. */
  readonly outOfFold: Float64Array;
  readonly foldReports: readonly GateTrainingReport[];
}

/** Stratified folds: sample indexes per fold, each class spread evenly, shuffled by `seed`. */
export function stratifiedFolds(labels: readonly string[], folds: number, seed: number): number[][] {
  const rng = createRng(seed);
  const out: number[][] = Array.from({ length: folds }, () => []);
  let next = 0;
  for (const label of [...new Set(labels)].sort()) {
    const ofClass = shuffleInPlace(labels.flatMap((l, i) => (l === label ? [i] : [])), rng);
    // Continue round-robin across classes so fold sizes differ by at most one.
    for (const i of ofClass) out[next++ % folds]!.push(i);
  }
  return out.map((f) => f.sort((a, b) => a - b));
}

/** `W·((x − mean)/std) + b` as one layer over raw features (std 0 counts as 1, as the trainer does). */
function foldNormalization(layer: LinearLayerData, mean: readonly number[], std: readonly number[]): LinearLayerData {
  const weight = new Array<number>(layer.weight.length);
  const bias = new Array<number>(layer.outputs);
  for (let o = 0; o < layer.outputs; o++) {
    let b = layer.bias[o]!;
    for (let i = 0; i < layer.inputs; i++) {
      const w = layer.weight[o * layer.inputs + i]! / (std[i]! > 1e-8 ? std[i]! : 1);
      weight[o * layer.inputs + i] = w;
      b -= w * mean[i]!;
    }
    bias[o] = b;
  }
  return { inputs: layer.inputs, outputs: layer.outputs, weight, bias };
}

/** One head whose logits are the mean of the heads' logits (same architecture, features and classes). */
export function mergeHeadsByMeanLogits(files: readonly GateHeadFile[], training: Record<string, unknown> = {}): GateHeadFile {
  const first = files[0];
  if (!first) throw new RangeError("mergeHeadsByMeanLogits: no heads");
  const K = files.length;
  const dim = first.features.dim;
  const firsts = files.map((f) => foldNormalization(f.layers[0]!, f.normalization.mean, f.normalization.std));
  let layers: LinearLayerData[];
  if (first.architecture === "logistic") {
    // A mean of linear maps is a linear map.
    const weight = firsts[0]!.weight.map((_, i) => firsts.reduce((a, l) => a + l.weight[i]!, 0) / K);
    const bias = firsts[0]!.bias.map((_, o) => firsts.reduce((a, l) => a + l.bias[o]!, 0) / K);
    layers = [{ inputs: dim, outputs: first.layers[0]!.outputs, weight, bias }];
  } else {
    const H = first.layers[0]!.outputs;
    const C = first.layers[1]!.outputs;
    const hidden: LinearLayerData = {
      inputs: dim,
      outputs: K * H,
      weight: firsts.flatMap((l) => l.weight),
      bias: firsts.flatMap((l) => l.bias),
    };
    const weight = new Array<number>(C * K * H);
    for (let c = 0; c < C; c++) {
      files.forEach((f, k) => {
        for (let h = 0; h < H; h++) weight[c * K * H + k * H + h] = f.layers[1]!.weight[c * H + h]! / K;
      });
    }
    const bias = Array.from({ length: C }, (_, c) => files.reduce((a, f) => a + f.layers[1]!.bias[c]!, 0) / K);
    layers = [hidden, { inputs: K * H, outputs: C, weight, bias }];
  }
  for (const f of files) {
    if (f.architecture !== first.architecture || f.features.dim !== dim || f.classes.join() !== first.classes.join()) {
      throw new RangeError("mergeHeadsByMeanLogits: heads differ in architecture, features or classes");
    }
    if (f.layers[0]!.outputs !== first.layers[0]!.outputs) throw new RangeError("mergeHeadsByMeanLogits: heads differ in width");
  }
  return {
    ...first,
    normalization: { mean: new Array<number>(dim).fill(0), std: new Array<number>(dim).fill(1) },
    layers,
    training,
  };
}

/** Trains `folds` heads on stratified folds (seed → folds and each head's seed) and merges them. */
export function trainCrossFittedGate(samples: readonly GateSample[], options: TrainGateOptions & { readonly folds?: number }): CrossFittedGate {
  const { folds: foldCount = 5, ...trainOptions } = options;
  const opts = trainGateOptionsSchema.parse(trainOptions);
  if (!Number.isInteger(foldCount) || foldCount < 2) throw new RangeError(`folds must be an integer ≥ 2, got ${foldCount}`);
  const folds = stratifiedFolds(samples.map((s) => s.label), foldCount, opts.seed);
  const trained = folds.map((heldOutIndexes, k) => trainGateHead(samples, { ...opts, heldOutIndexes, seed: opts.seed + k }));

  const outOfFold = new Float64Array(samples.length);
  folds.forEach((idx, k) => {
    for (const i of idx) outOfFold[i] = trained[k]!.head.forward(samples[i]!.features).applyProbability;
  });
  const isApply = samples.map((s) => opts.applyClasses.includes(s.label));
  const oof = accuracyAt(outOfFold, isApply, opts.threshold);
  const merged = mergeHeadsByMeanLogits(trained.map((t) => t.file));
  const head0 = new GateHead(merged);
  const inSample = accuracyAt(Float64Array.from(samples, (s) => head0.forward(s.features).applyProbability), isApply, opts.threshold);
  const foldReports = trained.map((t) => t.report);
  const report: GateTrainingReport = {
    seed: opts.seed,
    architecture: opts.architecture,
    samples: { train: samples.length, heldOut: samples.length, perClass: foldReports[0]!.samples.perClass },
    classWeights: foldReports[0]!.classWeights,
    epochs: Math.max(...foldReports.map((r) => r.epochs)),
    bestEpoch: Math.round(foldReports.reduce((a, r) => a + r.bestEpoch, 0) / foldReports.length),
    stoppedBy: foldReports.every((r) => r.stoppedBy === "early-stopping") ? "early-stopping" : "max-epochs",
    trainLoss: foldReports.reduce((a, r) => a + r.trainLoss, 0) / foldReports.length,
    heldOutLoss: foldReports.reduce((a, r) => a + (r.heldOutLoss ?? 0), 0) / foldReports.length,
    trainAccuracy: inSample.accuracy,
    heldOutAccuracy: oof.accuracy,
    heldOutBalancedAccuracy: oof.balanced,
    folds: foldCount,
  };
  const file: GateHeadFile = { ...merged, training: { ...report, foldBestEpochs: foldReports.map((r) => r.bestEpoch) } };
  return { head: new GateHead(file), file, report, outOfFold, foldReports };
}

function accuracyAt(p: Float64Array, isApply: readonly boolean[], threshold: number): { accuracy: number; balanced: number } {
  let correct = 0;
  const hit = [0, 0];
  const total = [0, 0];
  isApply.forEach((apply, i) => {
    const c = apply ? 1 : 0;
    total[c]!++;
    if (p[i]! > threshold === apply) {
      correct++;
      hit[c]!++;
    }
  });
  const recalls = [0, 1].filter((c) => total[c]! > 0).map((c) => hit[c]! / total[c]!);
  return { accuracy: correct / Math.max(1, isApply.length), balanced: recalls.reduce((a, b) => a + b, 0) / Math.max(1, recalls.length) };
}
