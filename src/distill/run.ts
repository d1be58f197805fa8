/**
 * `prism distill` end to end: bootstrap data → student samples → training → GGUF LoRA in the pack, manifest
 * switched to `mode: "lora"` with the training config, data hash and losses under `provenance.distill`.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import writeFileAtomic from "write-file-atomic";
import { MANIFEST_FILE, packManifestSchema } from "../adapters/manifest.js";
import { DistillError } from "../errors.js";
import type { MatmulKernels } from "./kernels/matmul.js";
import { loadStudentWeights } from "./model/gguf-student.js";
import { LlamaStudent } from "./model/llama.js";
import { loraParamCount } from "./model/lora.js";
import { writeLoraGguf } from "./lora-gguf.js";
import { type DistillConfigInput, distillConfigSchema } from "./train/config.js";
import { type DistillSample, buildSample, loadDistillData } from "./train/dataset.js";
import { loadPromptTokenizer } from "./train/prompt-tokenizer.js";
import { loadRetainData, retainSample } from "./train/retain.js";
import { mulberry32 } from "../random.js";
import { SequencePool } from "./train/sequence-pool.js";
import { type TrainProgress, type TrainResult, trainDistill } from "./train/trainer.js";

export const LORA_FILE = "lora.gguf";
export const CHECKPOINT_DIR = ".distill";

export interface RunDistillOptions {
  readonly packDir: string;
  /** Folder with distill.jsonl + teacher.prtk; defaults to the pack. */
  readonly dataDir?: string;
  readonly modelPath: string;
  readonly config: DistillConfigInput;
  readonly kernels: MatmulKernels;
  readonly threads: number;
  /**
   * Worker threads that each train one sequence of an accumulation group next to the calling thread (sequence
   * parallelism; `kernels` must then be one-thread wasm kernels). 0 or absent: one sequence at a time.
   */
  readonly sequenceWorkers?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: TrainProgress) => void;
  readonly onStage?: (message: string) => void;
}

export interface RunDistillResult extends TrainResult {
  readonly loraPath: string | null;
  readonly samples: { readonly train: number; readonly heldOut: number; readonly dropped: number };
}

/** Held-out split by a seeded shuffle; at least one training sample always remains. */
export function splitHeldOut<T>(samples: readonly T[], seed: number, fraction: number): { train: T[]; heldOut: T[] } {
  const rng = mulberry32(seed + 17);
  const order = samples.map((s) => ({ s, key: rng() }));
  order.sort((a, b) => a.key - b.key);
  const nHeld = samples.length >= 2 ? Math.min(samples.length - 1, Math.ceil(samples.length * fraction)) : 0;
  return { heldOut: order.slice(0, nHeld).map((x) => x.s), train: order.slice(nHeld).map((x) => x.s) };
}

export async function runDistill(o: RunDistillOptions): Promise<RunDistillResult> {
  const config = distillConfigSchema.parse(o.config);
  const manifestPath = join(o.packDir, MANIFEST_FILE);
  const manifestText = await readFile(manifestPath, "utf8").catch(() => {
    throw new DistillError(`${o.packDir}: no ${MANIFEST_FILE}; run 'prism bootstrap --out ${o.packDir}' first`);
  });
  const manifest = packManifestSchema.safeParse(JSON.parse(manifestText));
  if (!manifest.success) throw new DistillError(`${manifestPath}: invalid manifest (${manifest.error.issues[0]?.message})`);

  o.onStage?.("reading distill set and teacher signal");
  const data = await loadDistillData(o.dataDir ?? o.packDir);
  const tokenizer = await loadPromptTokenizer(o.modelPath, o.threads);
  const samples: DistillSample[] = [];
  const missing: string[] = [];
  let dropped = 0;
  const retainData = config.retainWeight > 0 ? await loadRetainData(o.dataDir ?? o.packDir) : null;
  const retainTokens: { id: string; prompt: number[]; response: number[] }[] = [];
  try {
    for (const row of retainData?.rows ?? []) {
      retainTokens.push({ id: row.id, prompt: tokenizer.studentPrompt(row.query), response: tokenizer.tokenize(row.response) });
    }
    for (const row of data.rows) {
      const teacher = data.teacher.get(row.id);
      if (teacher === undefined) {
        missing.push(row.id);
        continue;
      }
      const s = buildSample(row.id, tokenizer.studentPrompt(row.query), teacher, data.topK, config.maxLength);
      if (s === null) dropped++;
      else samples.push(s);
    }
  } finally {
    await tokenizer.dispose();
  }
  if (missing.length > 0) {
    throw new DistillError(`teacher.prtk has no record for ${missing.length} distill sample(s), e.g. '${missing[0]}'`);
  }

  const { train, heldOut } = splitHeldOut(samples, config.seed, config.heldOutFraction);

  if (train.length === 0) {
    throw new DistillError(
      `no training samples in ${o.dataDir ?? o.packDir}: ${data.rows.length} distill rows, ${dropped} longer than maxLength ${config.maxLength}`,
    );
  }
  o.onStage?.(`loading ${basename(o.modelPath)} as f32 student`);
  const sequenceWorkers = o.sequenceWorkers ?? 0;
  // Sequence workers read the weights in place: one copy in shared memory instead of one per thread.
  const weights = await loadStudentWeights(o.modelPath, { shared: sequenceWorkers > 0 });
  const mb = manifest.data.baseModel;
  if (mb.embeddingLength !== weights.shape.dim || mb.blockCount !== weights.shape.layers || mb.vocabSize !== weights.shape.vocab) {
    throw new DistillError(
      `${o.modelPath} does not match the pack's base model (pack: ${mb.blockCount} layers × ${mb.embeddingLength}, vocab ${mb.vocabSize})`,
    );
  }
  const student = new LlamaStudent(weights, o.kernels);
  const retain: DistillSample[] = [];
  if (retainData !== null) {
    o.onStage?.(`retain term: base model top-${data.topK} on ${retainTokens.length} retain samples`);
    for (const r of retainTokens) {
      const s = retainSample(student, r.id, r.prompt, r.response, data.topK, config.maxLength, config.retainWeight);
      if (s !== null) retain.push(s);
    }
  }
  // The retain set changes the numbers, so it is part of the data identity checkpoints are matched against.
  const dataHash = retainData === null ? data.hash : createHash("sha256").update(data.hash).update(retainData.hash).digest("hex");
  o.onStage?.(
    `training: ${train.length} samples (${heldOut.length} held out, ${dropped} too long)` +
      (retainData !== null ? ` + ${retain.length} retain samples × ${config.retainWeight}` : ""),
  );
  const pool = sequenceWorkers > 0 ? await SequencePool.create(student, sequenceWorkers, { maxTokensInFlight: config.maxLength }) : undefined;
  let result: TrainResult;
  try {
    result = await trainDistill({
      student,
      train,
      heldOut,
      retain,
      config,
      dataHash,
      checkpointDir: join(o.packDir, CHECKPOINT_DIR),
      signal: o.signal,
      onProgress: o.onProgress,
      ...(pool !== undefined ? { pool } : {}),
    });
  } finally {
    await pool?.close();
  }
  const sampleCounts = { train: train.length, heldOut: heldOut.length, dropped };
  if (result.interrupted) return { ...result, loraPath: null, samples: sampleCounts };

  const loraPath = join(o.packDir, LORA_FILE);
  await writeLoraGguf(loraPath, `${manifest.data.name}-distilled`, weights.shape, result.lora, config.outputType);
  const last = result.losses.slice(-Math.min(10, result.losses.length));
  const updated = packManifestSchema.parse({
    ...manifest.data,
    mode: "lora",
    lora: { file: LORA_FILE, scale: manifest.data.lora?.scale ?? 1 },
    provenance: {
      ...manifest.data.provenance,
      distill: {
        config,
        dataHash: `sha256:${dataHash}`,
        samples: sampleCounts,
        steps: result.steps,
        trainedTokens: result.trainedTokens,
        loraParameters: loraParamCount(result.lora),
        firstLoss: result.losses[0] ?? null,
        /** Mean loss per response token of every optimizer step. */
        losses: result.losses.map((l) => Number(l.toPrecision(6))),
        finalLoss: last.reduce((a, b) => a + b, 0) / Math.max(1, last.length),
        heldOutKlBefore: result.heldOutKlBefore,
        heldOutKlAfter: result.heldOutKlAfter,
        ...(retainData !== null
          ? { retain: { samples: retain.length, weight: config.retainWeight, klBefore: result.retainKlBefore, klAfter: result.retainKlAfter } }
          : {}),
        kernels: sequenceWorkers > 0 ? `${o.kernels.name} ×${sequenceWorkers + 1} sequences` : o.kernels.name,
        finishedAt: new Date().toISOString(),
      },
    },
  });
  await writeFileAtomic(manifestPath, JSON.stringify(updated, null, 2) + "\n");
  return { ...result, loraPath, samples: sampleCounts };
}
