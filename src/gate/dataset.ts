/** Labelled prompt sets for gate evaluation: JSONL lines `{id, prompt, intent[, source]}`. */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { intentSchema } from "../adapters/manifest.js";
import { InvalidRequestError } from "../errors.js";

export const intentSampleSchema = z.object({
  id: z.string().min(1),
  prompt: z.string().min(1),
  intent: intentSchema,
  source: z.string().optional(),
});
export type IntentSample = z.infer<typeof intentSampleSchema>;

export async function readIntentSamples(path: string): Promise<IntentSample[]> {
  const text = await readFile(path, "utf8");
  const samples: IntentSample[] = [];
  const problems: string[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      problems.push(`line ${i + 1}: not JSON`);
      return;
    }
    const parsed = intentSampleSchema.safeParse(raw);
    if (parsed.success) samples.push(parsed.data);
    else problems.push(`line ${i + 1}: ${parsed.error.issues.map((x) => `${x.path.join(".")}: ${x.message}`).join(", ")}`);
  });
  if (problems.length > 0) {
    throw new InvalidRequestError(`${path}: ${problems.slice(0, 10).join("; ")}${problems.length > 10 ? ` (+${problems.length - 10} more)` : ""}`);
  }
  return samples;
}

/** The source's family (`mt_bench/writing` → `mt_bench`), or `unknown`. */
export function sourceFamily(s: IntentSample): string {
  return s.source?.split("/")[0] ?? "unknown";
}

export const sampleHalfSchema = z.enum(["tune", "check"]);
export type SampleHalf = z.infer<typeof sampleHalfSchema>;

/**
 * A fixed half of a labelled set, by a hash of the prompt (low bit of SHA-256's first byte): decide on
 * `tune`, confirm on `check`, report both and the whole. The same prompt is in the same half in every
 * file and every session, so the split cannot be chosen after the fact.
 */
export function sampleHalf(sample: Pick<IntentSample, "prompt">): SampleHalf {
  return createHash("sha256").update(sample.prompt).digest()[0]! & 1 ? "check" : "tune";
}
