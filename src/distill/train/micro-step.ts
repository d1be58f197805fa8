/**
 * Per-sample work: one micro-step of training (forward + backward of one sample with its seeded dropout, LoRA
 * gradients accumulated into `grads`) and one sample's KL to the teacher. The same function runs on the calling thread and in sequence workers, so a sample's
 * gradients do not depend on where it ran.
 */
import type { LlamaStudent } from "../model/llama.js";
import type { LoraParams } from "../model/lora.js";
import { mulberry32 } from "../../random.js";
import type { DistillSample } from "./dataset.js";
import { topKDistillLoss } from "./kl-loss.js";

export interface MicroStepSettings {
  readonly temperature: number;
  readonly dropout: number;
  readonly seed: number;
}

/** Weighted loss summed over the sample's response positions, and how many positions that is. */
export interface MicroStepResult {
  readonly loss: number;
  readonly tokens: number;
}

/** Dropout masks depend only on (seed, micro-step index), so a resumed or re-split run draws the same masks. */
export function microStepRng(seed: number, micro: number): () => number {
  return mulberry32((seed * 2_654_435_761 + micro) >>> 0);
}

export function runMicroStep(
  student: LlamaStudent,
  sample: DistillSample,
  micro: number,
  lora: LoraParams,
  grads: LoraParams,
  s: MicroStepSettings,
): MicroStepResult {
  const k = sample.topK;
  const weight = sample.weight ?? 1;
  const row = new Map(sample.lossPositions.map((p, j) => [p, j]));
  const loss = student.forwardBackward(
    sample.tokens,
    lora,
    grads,
    sample.lossPositions,
    (pos, logits, grad) => {
      const j = row.get(pos)!;
      const l = topKDistillLoss(
        logits,
        sample.teacherIds.subarray(j * k, (j + 1) * k),
        sample.teacherLogits.subarray(j * k, (j + 1) * k),
        s.temperature,
        grad,
      );
      if (weight !== 1) for (let i = 0; i < grad.length; i++) grad[i] = grad[i]! * weight;
      return l * weight;
    },
    { dropout: s.dropout, rng: microStepRng(s.seed, micro) },
  );
  return { loss, tokens: sample.lossPositions.length };
}

/** KL·T² summed over one sample's response positions (no dropout, no gradients), and how many positions. */
export function sampleKl(student: LlamaStudent, lora: LoraParams | null, s: DistillSample, temperature: number): MicroStepResult {
  const V = student.weights.shape.vocab;
  const logits = student.logits(s.tokens, lora, s.lossPositions);
  let loss = 0;
  s.lossPositions.forEach((_, j) => {
    loss += topKDistillLoss(
      logits.subarray(j * V, (j + 1) * V),
      s.teacherIds.subarray(j * s.topK, (j + 1) * s.topK),
      s.teacherLogits.subarray(j * s.topK, (j + 1) * s.topK),
      temperature,
      null,
    );
  });
  return { loss, tokens: s.lossPositions.length };
}
