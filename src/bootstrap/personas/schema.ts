/**
 * Persona format (built-in set, user files, model-written from domain names). A persona file is
 * YAML or JSON holding one persona or a list of them:
 *
 * ```yaml
 * name: tax_advisor            # route-safe slug
 * intent: generative           # generative | safety | discriminative (what a persona prompt is expected to do)
 * long: You are an expert ...  # ~150–180 words; used to answer, judge and teach
 * medium: You are ...          # ~50–60 words (informational, optional: derived from long)
 * short: You are a tax expert. # ~5 words (optional)
 * ```
 */
import { z } from "zod";
import { intentSchema } from "../../adapters/manifest.js";

export const personaNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, "lowercase letters, digits, '-' or '_', at most 40 characters");

export const personaSchema = z.object({
  name: personaNameSchema,
  intent: intentSchema.default("generative"),
  long: z.string().trim().min(20, "the long form is the persona used for training: give it some substance").max(4000),
  medium: z.string().trim().min(1).max(1000),
  short: z.string().trim().min(1).max(200),
  /**
   * Openings of typical requests ("Write a", "Explain why"). The curator's answer is primed with one
   * (cycled by query index): a small model then writes a request instead of talking about the task.
   */
  starters: z.array(z.string().trim().min(1).max(60)).max(32).default([]),
});
export type Persona = z.infer<typeof personaSchema>;

/** What a user writes: medium and short may be left out and are then derived from the long form. */
export const personaFileEntrySchema = personaSchema.extend({
  medium: z.string().trim().min(1).max(1000).optional(),
  short: z.string().trim().min(1).max(200).optional(),
});
export const personaFileSchema = z.union([personaFileEntrySchema, z.array(personaFileEntrySchema).min(1)]);

export function wordCount(text: string): number {
  const t = text.trim();
  return t === "" ? 0 : t.split(/\s+/).length;
}

/** First whole sentences of `text` up to about `maxWords` words (at least one sentence). */
export function leadingSentences(text: string, maxWords: number): string {
  const sentences = text.trim().match(/[^.!?]+[.!?]+(\s|$)|[^.!?]+$/g) ?? [text];
  let out = "";
  for (const s of sentences) {
    if (out !== "" && wordCount(out + s) > maxWords) break;
    out += s;
  }
  return out.trim();
}

export function completePersona(entry: z.infer<typeof personaFileEntrySchema>): Persona {
  return personaSchema.parse({
    ...entry,
    medium: entry.medium ?? leadingSentences(entry.long, 60),
    short: entry.short ?? leadingSentences(entry.long, 8).split(/\s+/).slice(0, 8).join(" "),
  });
}
