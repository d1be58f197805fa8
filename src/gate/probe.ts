/**
 * Feature-quality probe: k-fold cross-validated gate heads on a LABELLED EVALUATION set, to compare
 * feature kinds. This measures features only; a probe head is never written or served (PRISM's gate is
 * trained by the bootstrap on self-generated data, never on evaluation data).
 *
 * Binary label, as the gate decides it: apply (generative | safety) vs base (discriminative).
 */
import type { FeatureSpec } from "./head-format.js";
import { createRng, shuffleInPlace } from "./random.js";
import { trainGateHead } from "./train.js";

export interface ProbeResult {
  readonly accuracy: number;
  readonly balancedAccuracy: number;
  /** Share routed to apply, per intent. */
  readonly applyShareByIntent: Record<string, number>;
  readonly folds: number;
}

export function crossValidatedProbe(
  rows: readonly { readonly features: Float32Array; readonly intent: string }[],
  spec: FeatureSpec,
  options: { folds?: number; seed?: number; architecture?: "logistic" | "mlp"; maxEpochs?: number } = {},
): ProbeResult {
  const folds = options.folds ?? 5;
  const rng = createRng(options.seed ?? 0);
  const order = shuffleInPlace(rows.map((_, i) => i), rng);
  const predictedApply = new Array<boolean>(rows.length).fill(false);
  for (let f = 0; f < folds; f++) {
    const testIdx = order.filter((_, k) => k % folds === f);
    const testSet = new Set(testIdx);
    const train = order
      .filter((i) => !testSet.has(i))
      .map((i) => ({ features: rows[i]!.features, label: rows[i]!.intent === "discriminative" ? "retain" : "apply" }));
    const { head } = trainGateHead(train, {
      features: spec,
      architecture: options.architecture ?? "logistic",
      hidden: 64,
      maxEpochs: options.maxEpochs ?? 100,
      learningRate: options.architecture === "mlp" ? 1e-3 : 1e-2,
      seed: (options.seed ?? 0) + f,
    });
    for (const i of testIdx) predictedApply[i] = head.forward(rows[i]!.features).applyProbability > 0.5;
  }
  const truth = rows.map((r) => r.intent !== "discriminative");
  const correct = truth.filter((t, i) => t === predictedApply[i]).length;
  const recall = (want: boolean) => {
    const idx = truth.map((t, i) => (t === want ? i : -1)).filter((i) => i >= 0);
    return idx.filter((i) => predictedApply[i] === want).length / Math.max(1, idx.length);
  };
  const intents = [...new Set(rows.map((r) => r.intent))].sort();
  return {
    accuracy: correct / rows.length,
    balancedAccuracy: (recall(true) + recall(false)) / 2,
    applyShareByIntent: Object.fromEntries(
      intents.map((intent) => {
        const idx = rows.map((r, i) => (r.intent === intent ? i : -1)).filter((i) => i >= 0);
        return [intent, idx.filter((i) => predictedApply[i]).length / idx.length];
      }),
    ),
    folds,
  };
}
