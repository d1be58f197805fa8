/**
 * MT-Bench question files (FastChat `question.jsonl` format): one JSON object per line with
 * `question_id`, `category` and `turns` (one or more user turns). Read in place, never copied.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { InvalidRequestError } from "../../errors.js";

export const mtBenchQuestionSchema = z.looseObject({
  question_id: z.union([z.number().int(), z.string().min(1)]),
  category: z.string().min(1),
  turns: z.array(z.string().min(1)).min(1),
});
export type MtBenchQuestion = z.infer<typeof mtBenchQuestionSchema>;

export function parseMtBench(text: string, file: string): MtBenchQuestion[] {
  const questions: MtBenchQuestion[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (line.trim() === "") continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      throw new InvalidRequestError(`${file}:${i + 1}: not valid JSON (${(err as Error).message})`, "mtbench");
    }
    const parsed = mtBenchQuestionSchema.safeParse(json);
    if (!parsed.success) {
      throw new InvalidRequestError(`${file}:${i + 1}: ${z.prettifyError(parsed.error)}`, "mtbench");
    }
    questions.push(parsed.data);
  }
  if (questions.length === 0) throw new InvalidRequestError(`${file}: no MT-Bench questions`, "mtbench");
  return questions;
}

export async function loadMtBench(file: string): Promise<MtBenchQuestion[]> {
  return parseMtBench(await readFile(file, "utf8"), file);
}
