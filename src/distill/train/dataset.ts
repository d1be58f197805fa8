/**
 * Distillation samples: the student's prompt (query without persona, chat-templated) followed by the
 * teacher's response tokens, with the teacher's top-k logits for every response position.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { type TeacherRecord, readTeacherFile } from "../../bootstrap/teacher-format.js";
import { DistillError } from "../../errors.js";
import { parseJsonlRows } from "./jsonl.js";

export const distillRowSchema = z.object({
  id: z.string().min(1),
  persona: z.string().optional(),
  query: z.string(),
  response: z.string(),
});
export type DistillRow = z.infer<typeof distillRowSchema>;

export interface DistillSample {
  readonly id: string;
  /** Input ids: prompt then response tokens except the last (whose successor nothing predicts). */
  readonly tokens: Int32Array;
  /** Positions whose logits are scored; position p predicts tokens[p+1] (teacher row j ↔ position promptLen−1+j). */
  readonly lossPositions: readonly number[];
  readonly topK: number;
  /** rows × k, row j for lossPositions[j]. */
  readonly teacherIds: Uint32Array;
  readonly teacherLogits: Float32Array;
  /** Loss weight (retain samples carry `retainWeight`); 1 when absent. */
  readonly weight?: number;
}

/** Builds one sample; null when the prompt alone leaves no response position inside `maxLength`. */
export function buildSample(
  id: string,
  promptTokens: readonly number[],
  teacher: TeacherRecord,
  topK: number,
  maxLength: number,
): DistillSample | null {
  const n = teacher.responseTokens.length;
  const p = promptTokens.length;
  if (p === 0 || n === 0) return null;
  const rows = Math.min(n, maxLength - p + 1);
  if (rows <= 0) return null;
  const tokens = new Int32Array(p + rows - 1);
  tokens.set(promptTokens, 0);
  for (let j = 0; j < rows - 1; j++) tokens[p + j] = teacher.responseTokens[j]!;
  return {
    id,
    tokens,
    lossPositions: Array.from({ length: rows }, (_, j) => p - 1 + j),
    topK,
    teacherIds: teacher.topIds.subarray(0, rows * topK),
    teacherLogits: teacher.topLogits.subarray(0, rows * topK),
  };
}

export interface DistillData {
  readonly rows: readonly DistillRow[];
  readonly teacher: ReadonlyMap<string, TeacherRecord>;
  readonly topK: number;
  /** sha256 over distill.jsonl and teacher.prtk, recorded in the manifest. */
  readonly hash: string;
}

/** Reads `distill.jsonl` + `teacher.prtk` from a bootstrap output (the pack folder or a run folder). */
export async function loadDistillData(dir: string): Promise<DistillData> {
  const jsonlPath = join(dir, "distill.jsonl");
  const teacherPath = join(dir, "teacher.prtk");
  let jsonl: Buffer, teacherBytes: Buffer;
  try {
    [jsonl, teacherBytes] = await Promise.all([readFile(jsonlPath), readFile(teacherPath)]);
  } catch (err) {
    throw new DistillError(`${dir}: needs distill.jsonl and teacher.prtk from 'prism bootstrap' (${(err as Error).message})`);
  }
  const rows = parseJsonlRows(jsonl, jsonlPath, distillRowSchema);
  const teacherFile = await readTeacherFile(teacherPath).catch((err: Error) => {
    throw new DistillError(err.message);
  });
  const teacher = new Map(teacherFile.records.map((r) => [r.id, r]));
  const hash = createHash("sha256").update(jsonl).update(teacherBytes).digest("hex");
  return { rows, teacher, topK: teacherFile.topK, hash };
}
