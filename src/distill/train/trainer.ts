/**
 * The distillation loop: micro-batch 1 × `accumulation`, gradients averaged per response token, global-norm
 * clipping, AdamW with warmup, checkpoints every K steps, resume, and a hard stop on NaN/inf or exploding gradients.
 * Sample order and dropout masks derive from (seed, micro-step), so a resumed run continues bit-identically.
 */
import { createHash } from "node:crypto";
import { DistillError } from "../../errors.js";
import type { LlamaStudent } from "../model/llama.js";
import { type LoraParams, initLora, loraArrays, shareLora, zerosLike } from "../model/lora.js";
import { AdamW, globalNorm, scaleArrays } from "./adamw.js";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint.js";
import type { DistillConfig } from "./config.js";
import type { DistillSample } from "./dataset.js";
import { type MicroStepResult, runMicroStep, sampleKl } from "./micro-step.js";
import { mulberry32 } from "../../random.js";
import type { SequencePool } from "./sequence-pool.js";
import { learningRate } from "./schedule.js";

export interface TrainProgress {
  readonly step: number;
  readonly totalSteps: number;
  readonly loss: number;
  readonly lr: number;
  readonly gradNorm: number;
  readonly tokensPerSecond: number;
  readonly etaSeconds: number;
}

export interface TrainOptions {
  readonly student: LlamaStudent;
  readonly train: readonly DistillSample[];
  readonly heldOut: readonly DistillSample[];
  /** Retain samples (base model's own top-k as teacher, weighted); trained in the same pool as `train`. */
  readonly retain?: readonly DistillSample[];
  readonly config: DistillConfig;
  readonly dataHash: string;
  /** Where checkpoints go; resumes from it when it holds a checkpoint of the same data and config. */
  readonly checkpointDir: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: TrainProgress) => void;
  /** Runs an accumulation group's micro-steps on several threads at once (same samples, masks and losses). */
  readonly pool?: SequencePool;
}

export interface TrainResult {
  readonly lora: LoraParams;
  readonly steps: number;
  readonly totalSteps: number;
  readonly losses: readonly number[];
  readonly heldOutKlBefore: number | null;
  readonly heldOutKlAfter: number | null;
  /** Mean KL·T² from the base model to the student on (up to 32) retain samples, before/after; null without any. */
  readonly retainKlBefore: number | null;
  readonly retainKlAfter: number | null;
  readonly trainedTokens: number;
  readonly tokensPerSecond: number;
  readonly resumedFrom: number;
  /** True when stopped by the abort signal (a checkpoint was written). */
  readonly interrupted: boolean;
}

export function totalStepsFor(config: DistillConfig, trainSamples: number): number {
  return config.steps ?? Math.max(1, Math.ceil((config.epochs * trainSamples) / config.accumulation));
}

/** Hash of what changes the numbers (not checkpoint cadence), so a resume with other settings is refused. */
export function configHash(config: DistillConfig): string {
  const { checkpointEvery: _c, ...rest } = config;
  return createHash("sha256").update(JSON.stringify(rest)).digest("hex").slice(0, 16);
}

/** Seeded Fisher–Yates permutation of 0..n−1 for one epoch. */
function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  const rng = mulberry32((seed * 1_000_003 + epoch * 7919) >>> 0);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/** Mean KL·T² per response token over samples (no dropout); spread over the pool's threads when given. */
export async function meanKl(
  student: LlamaStudent,
  lora: LoraParams | null,
  samples: readonly DistillSample[],
  temperature: number,
  pool?: SequencePool,
): Promise<number | null> {
  const perSample = pool !== undefined ? await pool.kl(samples, lora, temperature) : samples.map((s) => sampleKl(student, lora, s, temperature));
  let sum = 0, count = 0;
  for (const r of perSample) {
    sum += r.loss;
    count += r.tokens;
  }
  return count === 0 ? null : sum / count;
}

export async function trainDistill(o: TrainOptions): Promise<TrainResult> {
  const { student, config } = o;
  const retain = o.retain ?? [];
  const train = [...o.train, ...retain];
  const retainProbe = retain.slice(0, 32);
  if (o.train.length === 0) throw new DistillError("no training samples (the distill set is empty or every sample exceeds maxLength)");
  const shape = student.weights.shape;
  const initial = initLora(shape, config.rank, config.alpha, mulberry32(config.seed ^ 0x9e3779b9), config.firstLayer);
  // Sequence workers read the parameters in place, so they live in shared memory then.
  const lora = o.pool !== undefined ? shareLora(initial) : initial;
  const grads = zerosLike(lora);
  const params = loraArrays(lora);
  const gradArrays = loraArrays(grads);
  const opt = new AdamW(params, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: config.weightDecay });
  const totalSteps = totalStepsFor(config, train.length);
  const cfgHash = configHash(config);

  let startStep = 0;
  let losses: number[] = [];
  let heldOutKlBefore: number | null = null;
  const saved = await loadCheckpoint(o.checkpointDir, [...params, ...opt.m, ...opt.v]);
  if (saved !== null) {
    if (saved.dataHash !== o.dataHash || saved.configHash !== cfgHash || saved.totalSteps !== totalSteps) {
      throw new DistillError(
        `${o.checkpointDir} holds a checkpoint of other data or settings; remove it to start over, or rerun with the same data and options`,
      );
    }
    startStep = saved.step;
    losses = [...saved.losses];
    heldOutKlBefore = saved.heldOutKlBefore;
    opt.step = saved.step;
  } else {
    heldOutKlBefore = await meanKl(student, lora, o.heldOut, config.temperature, o.pool);
  }

  let trainedTokens = 0;
  const started = performance.now();
  let step = startStep;
  let interrupted = false;
  const checkpoint = (doneSteps: number) =>
    saveCheckpoint(o.checkpointDir, { step: doneSteps, totalSteps, dataHash: o.dataHash, configHash: cfgHash, losses, heldOutKlBefore }, [
      ...params,
      ...opt.m,
      ...opt.v,
    ]);

  for (; step < totalSteps; step++) {
    if (o.signal?.aborted) {
      interrupted = true;
      break;
    }
    for (const g of gradArrays) g.fill(0);
    const jobs = Array.from({ length: config.accumulation }, (_, a) => {
      const micro = step * config.accumulation + a;
      const epoch = Math.floor(micro / train.length);
      return { micro, sample: train[epochOrder(train.length, config.seed, epoch)[micro % train.length]!]! };
    });
    const settings = { temperature: config.temperature, dropout: config.dropout, seed: config.seed };
    const results: MicroStepResult[] =
      o.pool !== undefined
        ? await o.pool.run(jobs, lora, grads, settings)
        : jobs.map((j) => runMicroStep(student, j.sample, j.micro, lora, grads, settings));
    let lossSum = 0, tokens = 0;
    for (const r of results) {
      lossSum += r.loss;
      tokens += r.tokens;
    }
    const loss = lossSum / tokens;
    if (!Number.isFinite(loss)) {
      throw new DistillError(
        `training diverged at step ${step + 1}: loss is ${loss}; the last good checkpoint is kept in ${o.checkpointDir}`,
      );
    }
    scaleArrays(gradArrays, 1 / tokens);
    const gradNorm = globalNorm(gradArrays);
    if (!Number.isFinite(gradNorm) || gradNorm > config.explodeNorm) {
      throw new DistillError(
        `training diverged at step ${step + 1}: gradient norm ${gradNorm} (limit ${config.explodeNorm}); the last good checkpoint is kept in ${o.checkpointDir}`,
      );
    }
    if (gradNorm > config.gradClip) scaleArrays(gradArrays, config.gradClip / gradNorm);
    const lr = learningRate(step, totalSteps, config.learningRate);
    opt.update(gradArrays, lr);
    losses.push(loss);
    trainedTokens += tokens;
    const elapsed = (performance.now() - started) / 1000;
    const done = step + 1 - startStep;
    o.onProgress?.({
      step: step + 1,
      totalSteps,
      loss,
      lr,
      gradNorm,
      tokensPerSecond: trainedTokens / elapsed,
      etaSeconds: (elapsed / done) * (totalSteps - step - 1),
    });
    if ((step + 1) % config.checkpointEvery === 0 && step + 1 < totalSteps) {
      await checkpoint(step + 1);
    }
    // Let signals (Ctrl-C) and timers run between steps.
    await new Promise((r) => setImmediate(r));
  }
  if (interrupted) await checkpoint(step);
  const elapsed = (performance.now() - started) / 1000;
  return {
    lora,
    steps: step,
    totalSteps,
    losses,
    heldOutKlBefore,
    heldOutKlAfter: interrupted ? null : await meanKl(student, lora, o.heldOut, config.temperature, o.pool),
    // B starts at 0, so "before" is the base model itself (top-k truncation keeps it slightly above 0).
    retainKlBefore: await meanKl(student, null, retainProbe, config.temperature, o.pool),
    retainKlAfter: interrupted ? null : await meanKl(student, lora, retainProbe, config.temperature, o.pool),
    trainedTokens,
    tokensPerSecond: elapsed > 0 ? trainedTokens / elapsed : 0,
    resumedFrom: startStep,
    interrupted,
  };
}
