/**
 * MMLU test CSVs (hendrycks/test format): headerless `question,A,B,C,D,answer`, one file per subject
 * named `<subject>_test.csv`. Quoted fields may span lines, hence a real CSV parser.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { parse } from "csv-parse/sync";
import { z } from "zod";
import { InvalidRequestError } from "../../errors.js";

export const MMLU_LETTERS = ["A", "B", "C", "D"] as const;
export type MmluLetter = (typeof MMLU_LETTERS)[number];

export const mmluItemSchema = z.object({
  subject: z.string().min(1),
  /** 0-based row in the subject's file. */
  row: z.number().int().nonnegative(),
  question: z.string().min(1),
  choices: z.tuple([z.string(), z.string(), z.string(), z.string()]),
  answer: z.enum(MMLU_LETTERS),
});
export type MmluItem = z.infer<typeof mmluItemSchema>;

/** `high_school_biology_test.csv` → `high_school_biology`. */
export function mmluSubjectOf(file: string): string {
  return basename(file).replace(/\.csv$/i, "").replace(/_(test|dev|val)$/i, "");
}

export function parseMmluCsv(text: string, file: string): MmluItem[] {
  let rows: string[][];
  try {
    rows = parse(text, { relax_column_count: false, skip_empty_lines: true, trim: false }) as string[][];
  } catch (err) {
    throw new InvalidRequestError(`${file}: not a valid CSV (${(err as Error).message})`, "mmlu");
  }
  const subject = mmluSubjectOf(file);
  return rows.map((cells, row) => {
    const [question, a, b, c, d, answer] = cells;
    const parsed = mmluItemSchema.safeParse({
      subject,
      row,
      question: question?.trim(),
      choices: [a, b, c, d].map((s) => s?.trim()),
      answer: answer?.trim().toUpperCase(),
    });
    if (!parsed.success || cells.length !== 6) {
      const why = parsed.success ? `expected 6 columns, got ${cells.length}` : z.prettifyError(parsed.error);
      throw new InvalidRequestError(`${file}: row ${row + 1}: ${why}`, "mmlu");
    }
    return parsed.data;
  });
}

/** A CSV file or a folder of `*.csv` (sorted by name, so subject order is stable). */
export async function loadMmlu(path: string): Promise<MmluItem[]> {
  const files = (await stat(path)).isDirectory()
    ? (await readdir(path))
        .filter((f) => f.toLowerCase().endsWith(".csv"))
        .sort()
        .map((f) => join(path, f))
    : [path];
  if (files.length === 0) throw new InvalidRequestError(`${path}: no MMLU CSV files`, "mmlu");
  const items: MmluItem[] = [];
  for (const file of files) items.push(...parseMmluCsv(await readFile(file, "utf8"), file));
  return items;
}
