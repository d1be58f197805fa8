/** Record schemas of the bootstrap stages (one zod schema per stage file; types inferred). */
import { z } from "zod";
import { intentSchema } from "../adapters/manifest.js";

export const generationSchema = z.object({
  text: z.string(),
  tokens: z.number().int().nonnegative(),
  /** `cut`: stopped early because it had started to repeat itself (a runaway, see `isRunaway`). */
  finishReason: z.enum(["stop", "length", "cut"]),
  /** Generated token ids (kept for answers: the teacher scores exactly these). */
  tokenIds: z.array(z.number().int().nonnegative()).optional(),
});
export type Generation = z.infer<typeof generationSchema>;

/** Stage 1 raw output: one curator generation (persona query or knowledge contrast query). */
export const queryRecordSchema = z.object({
  /** Persona name, or `knowledge` for contrast queries. */
  source: z.string(),
  kind: z.enum(["persona", "knowledge"]),
  intent: intentSchema,
  /** Knowledge contrast: style and subject the model was asked for. */
  style: z.string().nullable(),
  subject: z.string().nullable(),
  raw: generationSchema,
  /** Cleaned query text (labels and quotes stripped). */
  text: z.string(),
});
export type QueryRecord = z.infer<typeof queryRecordSchema>;

export const winnerSchema = z.enum(["persona", "baseline", "tie"]);

/**
 * The judge's next-token distribution at the start of its reply: probability mass of all spellings of
 * each verdict, normalised over the three; `mass` is their total before normalising (how much of the
 * distribution the verdict words hold at all).
 */
export const verdictProbabilitiesSchema = z.object({
  A: z.number().min(0).max(1),
  B: z.number().min(0).max(1),
  TIE: z.number().min(0).max(1),
  mass: z.number().nonnegative(),
});
export type VerdictProbabilities = z.infer<typeof verdictProbabilitiesSchema>;

export const verdictSchema = z.object({
  /** Which answer was shown as A. */
  order: z.enum(["persona-first", "baseline-first"]),
  /** Greedy text reply (the published judge), kept for transparency and `--judge text`. */
  reply: z.string(),
  /** Parsed A/B/TIE; null = unparsable judge output. */
  verdict: z.enum(["A", "B", "TIE"]).nullable(),
  /** Winner under the text rule. */
  winner: winnerSchema.nullable(),
  /** Logit judge; null = no probability on any verdict word; absent = judged by an older version (re-judged on resume). */
  probabilities: verdictProbabilitiesSchema.nullable().optional(),
});
export type VerdictRecord = z.infer<typeof verdictSchema>;

export const outcomeReasonSchema = z.enum([
  "persona-won-both",
  "baseline-won-both",
  "tie",
  "split",
  "unparsable-verdict",
  /** Logit judge: the verdict words had no probability at all. */
  "no-verdict-mass",
  "empty-answer",
  "runaway-answer",
]);
export type OutcomeReason = z.infer<typeof outcomeReasonSchema>;

/**
 * Stage 2: both answers, both verdicts and the set under the published text rule. The logit judge's
 * set needs the run-level position bias, so it is computed after the stage from these records
 * (judge.ts) and substituted for `set`/`reason` before later stages read them.
 */
export const judgedRecordSchema = z.object({
  persona: z.string(),
  query: z.string(),
  baseline: generationSchema,
  withPersona: generationSchema,
  verdicts: z.array(verdictSchema),
  set: z.enum(["distill", "retain"]),
  reason: outcomeReasonSchema,
});
export type JudgedRecord = z.infer<typeof judgedRecordSchema>;

/** Stage 3: where a distill sample's teacher signal was written. */
export const teacherRecordSchema = z.object({
  file: z.string(),
  tokens: z.number().int().nonnegative(),
});
export type TeacherIndexRecord = z.infer<typeof teacherRecordSchema>;

/** Stage 4a: the gate's input vector for one query. */
export const featureRecordSchema = z.object({
  features: z.array(z.number()),
  /** Fingerprint of the feature spec and query text (absent in older runs: recomputed). */
  input: z.string().optional(),
});
export type FeatureRecord = z.infer<typeof featureRecordSchema>;
