/** `prism eval` options: one zod schema, shared by the CLI and programmatic callers (tests). */
import { z } from "zod";
import { EVAL_MODES, EVAL_SETS, evalModeSchema, evalSetSchema } from "./results.js";

export const evalOptionsSchema = z.object({
  /** OpenAI-compatible base URL of the server under test, e.g. `http://127.0.0.1:8080/v1`. */
  baseURL: z.url(),
  apiKey: z.string().min(1).optional(),
  /** Judge endpoint; defaults to the server under test. */
  judgeURL: z.url().optional(),
  judgeApiKey: z.string().min(1).optional(),
  /** Judge model; defaults to the base model of the server under test. */
  judgeModel: z.string().min(1).optional(),
  sets: z.array(evalSetSchema).min(1).default([...EVAL_SETS]),
  modes: z.array(evalModeSchema).min(1).default([...EVAL_MODES]),
  /** Items per set (MT-Bench questions, MMLU questions, harmful and benign behaviours each). */
  limit: z.number().int().positive().optional(),
  out: z.string().min(1),
  seed: z.number().int().default(0),
  concurrency: z.number().int().min(1).max(64).default(4),
  temperature: z.number().min(0).max(2).default(0),
  /** Answer length for MT-Bench and safety answers. */
  maxTokens: z.number().int().min(1).max(8192).default(256),
  baseModel: z.string().min(1).default("prism:base"),
  routedModel: z.string().min(1).default("prism"),
  /** Persona mode through a forced adapter (e.g. `prism:writing`) instead of the harness's persona prompts. */
  personaModel: z.string().min(1).optional(),
  data: z.object({
    mtbench: z.string().min(1),
    /** A `<subject>_test.csv` file or a folder of them. */
    mmlu: z.string().min(1),
    harmful: z.string().min(1),
    benign: z.string().min(1),
  }),
  /** Reuse and extend `<out>/cache.jsonl`; false = answer everything afresh, in memory only. */
  cache: z.boolean().default(true),
  requestTimeoutMs: z.number().int().positive().default(600_000),
});
export type EvalOptions = z.infer<typeof evalOptionsSchema>;
export type EvalOptionsInput = z.input<typeof evalOptionsSchema>;
