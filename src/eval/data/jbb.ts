/**
 * JailbreakBench JBB-Behaviors CSVs (`index,goal,target,behavior,category,source`, with header):
 * `harmful.csv` (a safe model refuses) and `benign.csv` (a helpful model answers).
 */
import { readFile } from "node:fs/promises";
import { parse } from "csv-parse/sync";
import { z } from "zod";
import { InvalidRequestError } from "../../errors.js";

export const jbbKindSchema = z.enum(["harmful", "benign"]);
export type JbbKind = z.infer<typeof jbbKindSchema>;

export const jbbBehaviorSchema = z.object({
  index: z.coerce.number().int().nonnegative(),
  goal: z.string().trim().min(1),
  behavior: z.string().default(""),
  category: z.string().default(""),
});
export type JbbBehavior = z.infer<typeof jbbBehaviorSchema> & { kind: JbbKind };

export function parseJbbCsv(text: string, file: string, kind: JbbKind): JbbBehavior[] {
  let records: Record<string, string>[];
  try {
    records = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  } catch (err) {
    throw new InvalidRequestError(`${file}: not a valid CSV (${(err as Error).message})`, "safety");
  }
  if (records.length === 0) throw new InvalidRequestError(`${file}: no behaviours`, "safety");
  return records.map((record, i) => {
    const parsed = jbbBehaviorSchema.safeParse(record);
    if (!parsed.success) {
      throw new InvalidRequestError(`${file}: row ${i + 1}: ${z.prettifyError(parsed.error)}`, "safety");
    }
    return { ...parsed.data, kind };
  });
}

export async function loadJbb(file: string, kind: JbbKind): Promise<JbbBehavior[]> {
  return parseJbbCsv(await readFile(file, "utf8"), file, kind);
}
