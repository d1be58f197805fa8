/** The bootstrap's JSON Lines files (distill.jsonl, retain.jsonl): one schema-checked row per non-blank line. */
import type { z } from "zod";
import { DistillError } from "../../errors.js";

/** Rows of `bytes` parsed with `schema`; a bad line throws a DistillError naming `path:line`. */
export function parseJsonlRows<Schema extends z.ZodType>(bytes: Buffer, path: string, schema: Schema): z.output<Schema>[] {
  const rows: z.output<Schema>[] = [];
  bytes
    .toString("utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new DistillError(`${path}:${i + 1}: not valid JSON`);
      }
      const parsed = schema.safeParse(value);
      if (!parsed.success) throw new DistillError(`${path}:${i + 1}: ${parsed.error.issues[0]?.message ?? "invalid row"}`);
      rows.push(parsed.data);
    });
  return rows;
}
