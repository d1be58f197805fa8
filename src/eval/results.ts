/**
 * The results file's schema: one record per (item, mode) plus the aggregated summary. The zod
 * schemas are the single source of truth; the HTML report and the tests read results through them.
 */
import { z } from "zod";
import { estimateSchema } from "./stats.js";

export const EVAL_MODES = ["base", "persona", "routed"] as const;
export const evalModeSchema = z.enum(EVAL_MODES);
export type EvalMode = z.infer<typeof evalModeSchema>;

export const EVAL_SETS = ["mtbench", "mmlu", "safety"] as const;
export const evalSetSchema = z.enum(EVAL_SETS);
export type EvalSet = z.infer<typeof evalSetSchema>;

const recordCommon = {
  id: z.string(),
  /** MT-Bench category, MMLU subject, or JBB behaviour category. */
  group: z.string(),
  mode: evalModeSchema,
  model: z.string(),
  /** Persona injected by the harness as the system message, null when none. */
  persona: z.string().nullable(),
  /** Route reported by the gateway (`x-prism-route`) for the first request; null when not reported. */
  route: z.string().nullable(),
  /** route !== "base"; null when the server does not report routes. */
  adapterApplied: z.boolean().nullable(),
  gateScore: z.number().nullable(),
  /** Answering requests only (judge calls are counted separately). */
  requests: z.number().int().nonnegative(),
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  latencyMs: z.number().nonnegative(),
  judgeRequests: z.number().int().nonnegative(),
  judgeTokens: z.number().int().nonnegative(),
};

export const mtBenchRecordSchema = z.object({
  set: z.literal("mtbench"),
  ...recordCommon,
  answers: z.array(z.string()),
  /** Judge rating per turn, null when the verdict could not be read. */
  turnScores: z.array(z.number().nullable()),
  judgeOutputs: z.array(z.string()),
  /** Mean of the readable turn scores; null when none was readable. */
  score: z.number().nullable(),
});

export const mmluRecordSchema = z.object({
  set: z.literal("mmlu"),
  ...recordCommon,
  gold: z.enum(["A", "B", "C", "D"]),
  predicted: z.enum(["A", "B", "C", "D"]).nullable(),
  correct: z.boolean(),
  /** How the letter was read: first-token log-probabilities, the generated text, or not at all. */
  method: z.enum(["logprob", "text", "none"]),
  letterLogprobs: z.record(z.string(), z.number()).nullable(),
});

export const safetyRecordSchema = z.object({
  set: z.enum(["harmful", "benign"]),
  ...recordCommon,
  answer: z.string(),
  refused: z.boolean().nullable(),
  method: z.enum(["logprob", "text", "none"]),
  judgeOutput: z.string(),
});

export const evalRecordSchema = z.discriminatedUnion("set", [mtBenchRecordSchema, mmluRecordSchema, safetyRecordSchema]);
export type MtBenchRecord = z.infer<typeof mtBenchRecordSchema>;
export type MmluRecord = z.infer<typeof mmluRecordSchema>;
export type SafetyRecord = z.infer<typeof safetyRecordSchema>;
export type EvalRecord = z.infer<typeof evalRecordSchema>;

const byMode = <T extends z.ZodType>(schema: T) => z.partialRecord(evalModeSchema, schema);

export const costSchema = z.object({
  requests: z.number().int(),
  promptTokens: z.number().int(),
  completionTokens: z.number().int(),
  meanPromptTokens: z.number().nullable(),
  meanCompletionTokens: z.number().nullable(),
  latencyMs: estimateSchema,
  latencyP50Ms: z.number().nullable(),
  latencyP95Ms: z.number().nullable(),
  judgeRequests: z.number().int(),
  judgeTokens: z.number().int(),
});

export const summarySchema = z.object({
  mtbench: byMode(
    z.object({
      overall: estimateSchema,
      byCategory: z.record(z.string(), estimateSchema),
      unparsedTurns: z.number().int(),
    }),
  ),
  mmlu: byMode(
    z.object({
      overall: estimateSchema,
      bySubject: z.record(z.string(), estimateSchema),
      methods: z.record(z.string(), z.number().int()),
    }),
  ),
  safety: byMode(
    z.object({
      /** Share of harmful requests refused (higher is safer). */
      harmfulRefusal: estimateSchema,
      /** Share of benign requests refused (lower is more helpful). */
      benignOverRefusal: estimateSchema,
      unparsed: z.number().int(),
    }),
  ),
  /** Share of requests served with an adapter, by set and by `set/group`; only where routes were reported. */
  routing: byMode(
    z.object({
      bySet: z.record(z.string(), estimateSchema),
      byGroup: z.record(z.string(), estimateSchema),
    }),
  ),
  cost: byMode(costSchema),
});
export type Summary = z.infer<typeof summarySchema>;

export const evalResultsSchema = z.object({
  schemaVersion: z.literal(1),
  config: z.object({
    baseURL: z.string(),
    models: z.record(evalModeSchema, z.string()),
    personaSource: z.enum(["prompt", "adapter"]),
    judge: z.object({ baseURL: z.string(), model: z.string() }),
    sets: z.array(evalSetSchema),
    modes: z.array(evalModeSchema),
    limit: z.number().int().positive().nullable(),
    seed: z.number().int(),
    temperature: z.number(),
    maxTokens: z.number().int(),
    concurrency: z.number().int(),
    serverIdentity: z.string(),
  }),
  /** Items evaluated per set (per mode); every mode answers the same items. */
  counts: z.record(z.string(), z.number().int()),
  records: z.array(evalRecordSchema),
  /** Items that could not be evaluated (request refused by the server...), excluded from the summary. */
  failures: z.array(z.object({ set: evalSetSchema, id: z.string(), mode: evalModeSchema, message: z.string() })),
  summary: summarySchema,
  run: z.object({
    wallMs: z.number(),
    /** Requests (answers and verdicts) served from the cache instead of the server. */
    cachedCalls: z.number().int(),
    finishedAt: z.string(),
  }),
});
export type EvalResults = z.infer<typeof evalResultsSchema>;
