/**
 * The optional retain term. On retain samples (queries where the judge kept the base model's answer) the
 * adapted student is pulled toward the base model's own distribution: the "teacher" is the student without
 * LoRA, its top-k logits taken once before training on the query (no persona) + the baseline answer. The loss is
 * the same top-k KL·T², weighted by `retainWeight`, so the adapter learns the persona where it should without
 * drifting where the base answer was preferred.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { DistillError } from "../../errors.js";
import type { LlamaStudent } from "../model/llama.js";
import type { DistillSample } from "./dataset.js";
import { parseJsonlRows } from "./jsonl.js";

/** One line of the bootstrap's `retain.jsonl` (extra fields such as the judge's reason are ignored). */
export const retainRowSchema = z.object({
  id: z.string().min(1),
  query: z.string(),
  response: z.string(),
});
export type RetainRow = z.infer<typeof retainRowSchema>;

export interface RetainData {
  readonly rows: readonly RetainRow[];
  /** sha256 of retain.jsonl, folded into the run's data hash when the term is on. */
  readonly hash: string;
}

export async function loadRetainData(dir: string): Promise<RetainData> {
  const path = join(dir, "retain.jsonl");
  const bytes = await readFile(path).catch((err: Error) => {
    throw new DistillError(`the retain term needs ${path} from 'prism bootstrap' (${err.message})`);
  });
  const rows = parseJsonlRows(bytes, path, retainRowSchema);
  return { rows, hash: createHash("sha256").update(bytes).digest("hex") };
}

/** Indices of the k largest values, largest first (single pass with a running minimum; k ≪ n). */
export function topKIndices(values: Float32Array, k: number): Uint32Array {
  const n = Math.min(k, values.length);
  const ids = new Uint32Array(n);
  const vals = new Float32Array(n).fill(-Infinity);
  let minAt = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v <= vals[minAt]! && i >= n) continue;
    ids[minAt] = i;
    vals[minAt] = v;
    minAt = 0;
    for (let j = 1; j < n; j++) if (vals[j]! < vals[minAt]!) minAt = j;
  }
  return Uint32Array.from([...ids].sort((a, b) => values[b]! - values[a]!));
}

/**
 * A retain sample: prompt + baseline answer tokens, scored against the base model's top-k at each answer
 * position. Null when the prompt alone fills `maxLength` or the answer is empty.
 */
export function retainSample(
  student: LlamaStudent,
  id: string,
  promptTokens: readonly number[],
  responseTokens: readonly number[],
  topK: number,
  maxLength: number,
  weight: number,
): DistillSample | null {
  const p = promptTokens.length;
  const rows = Math.min(responseTokens.length, maxLength - p + 1);
  if (p === 0 || rows <= 0) return null;
  const tokens = new Int32Array(p + rows - 1);
  tokens.set(promptTokens, 0);
  for (let j = 0; j < rows - 1; j++) tokens[p + j] = responseTokens[j]!;
  const lossPositions = Array.from({ length: rows }, (_, j) => p - 1 + j);
  const V = student.weights.shape.vocab;
  const logits = student.logits(tokens, null, lossPositions);
  const k = Math.min(topK, V);
  const teacherIds = new Uint32Array(rows * k);
  const teacherLogits = new Float32Array(rows * k);
  for (let j = 0; j < rows; j++) {
    const row = logits.subarray(j * V, (j + 1) * V);
    const ids = topKIndices(row, k);
    teacherIds.set(ids, j * k);
    ids.forEach((t, i) => (teacherLogits[j * k + i] = row[t]!));
  }
  return { id, tokens, lossPositions, topK: k, teacherIds, teacherLogits, weight };
}
