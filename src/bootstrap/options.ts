/** Bootstrap run settings: one zod schema, defaults from the PRISM paper where it gives them. */
import { z } from "zod";

export const labelSchemeSchema = z.enum(["verdict", "verdict+contrast", "intent", "combined"]);
export type LabelScheme = z.infer<typeof labelSchemeSchema>;

/** `text`: the published greedy A/B/TIE reply; `logit`: order-averaged verdict probabilities, position bias removed. */
export const judgeModeSchema = z.enum(["text", "logit"]);
export type JudgeMode = z.infer<typeof judgeModeSchema>;

/**
 * Position bias the logit judge removes: `run` one offset for the whole run (mean P(A) − P(B) over all
 * judgements); `pair` each pair's own (mean of its two orders), which leaves exactly the order-averaged
 * preference, so both orders always agree and `judgeMargin` alone guards against noise.
 */
export const judgeBiasSchema = z.enum(["run", "pair"]);
export type JudgeBias = z.infer<typeof judgeBiasSchema>;

export const bootstrapOptionsSchema = z.object({
  seed: z.number().int().nonnegative().default(0),
  /** Curator generations per persona (PRISM: 50). Short and duplicate ones are dropped afterwards. */
  queriesPerPersona: z.number().int().positive().max(10_000).default(50),
  /** Knowledge-style contrast queries the model writes (gate label: keep the base model); null = 3 × queriesPerPersona. */
  knowledgeQueries: z.number().int().nonnegative().max(100_000).nullable().default(null),
  queryTemperature: z.number().min(0).max(2).default(0.9),
  queryMaxTokens: z.number().int().positive().default(200),
  /** Queries of at most this many characters are dropped. */
  minQueryChars: z.number().int().nonnegative().default(15),
  nearDuplicateJaccard: z.number().min(0).max(1).default(0.8),
  answerTemperature: z.number().min(0).max(2).default(0.7),
  answerMaxTokens: z.number().int().positive().default(512),
  judgeMaxTokens: z.number().int().positive().default(5),
  /** Answers are cut to this many characters for the judge. */
  judgeAnswerChars: z.number().int().positive().default(1500),
  judge: judgeModeSchema.default("logit"),
  /**
   * Judging budget: answer and judge only the first N kept queries of each persona (null = all, as PRISM).
   * The stage costs two answers and two judgements per query, by far the most compute of the run; the
   * unjudged queries still train the gate, labelled by their persona's intent (see labels.ts).
   */
  judgedPerPersona: z.number().int().positive().nullable().default(null),
  /**
   * Logit judge: the persona must beat the baseline by more than this (normalised probability, after
   * removing the run's position bias) in both orders to go to distill; within ±margin an order is a tie.
   */
  judgeMargin: z.number().min(0).max(1).default(0),
  judgeBias: judgeBiasSchema.default("run"),
  teacherTopK: z.number().int().positive().max(1024).default(64),
  teacherLogits: z.enum(["f16", "f32"]).default("f16"),
  /**
   * How gate labels are made (see docs/bootstrap.md):
   * `verdict` PRISM as published (distill = apply, retain = keep base);
   * `verdict+contrast` plus the model's own knowledge queries as keep-base;
   * `intent` the generating persona's intent decides (judge ignored), plus contrast;
   * `combined` persona wins or a generative/safety persona not beaten by the baseline → apply, plus contrast.
   */
  labels: labelSchemeSchema.default("combined"),
  /**
   * `combined` labels: how far a verdict that contradicts the query's persona intent is trusted (0–1),
   * or `reliability`: the judge's own order agreement beyond chance, measured on the run (Cohen's κ,
   * judge.ts). 1 is the earlier rule (the verdict decides). On SmolLM2-135M κ is 0.
   */
  verdictWeight: z.union([z.literal("reliability"), z.number().min(0).max(1)]).default("reliability"),
  gateArchitecture: z.enum(["mlp", "logistic"]).default("mlp"),
  /**
   * Classes the gate head learns: `binary` apply / retain; `intent` the persona intents (generative,
   * safety, discriminative; contrast and keep-base labels are discriminative), P(apply) = P(generative) +
   * P(safety). Harmful requests and writing requests are different things that both want the adapter;
   * one class for both made the head draw one boundary around two clusters.
   */
  gateClasses: z.enum(["binary", "intent"]).default("intent"),
  /**
   * Gate heads trained on stratified folds, logits averaged (src/gate/ensemble.ts); 1 = one head with a
   * random 20% held out (the published recipe). One head's routing moved ±6 points with its seed here.
   */
  gateFolds: z.number().int().min(1).max(20).default(5),
  /** Hidden units per head (MLP); null = 256 for one head, 64 per head for several (same decision cost as ~320). */
  gateHidden: z.number().int().positive().nullable().default(null),
  gateThreshold: z.number().min(0).max(1).default(0.5),
  /** Persona whose text the persona-prompt pack injects; null = the non-discriminative persona with most distill wins. */
  packPersona: z.string().nullable().default(null),
});
export type BootstrapOptions = z.infer<typeof bootstrapOptionsSchema>;
export type BootstrapOptionsInput = z.input<typeof bootstrapOptionsSchema>;
