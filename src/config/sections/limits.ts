import { z } from "zod";

const positiveInt = z.number().int().positive();

/** Request limits. `null` switches a limit off. Rate limits apply per API key (per client IP when auth is off). */
export const limitsConfigSchema = z
  .object({
    bodyLimitBytes: positiveInt.default(4 * 1024 * 1024).describe("Largest accepted request body (413 beyond)."),
    maxMessages: positiveInt.default(256).describe("Most `messages` in one chat request (400 beyond)."),
    maxPromptTokens: positiveInt
      .nullable()
      .default(null)
      .describe("Most prompt tokens after templating; null = the context window."),
    maxTokens: positiveInt.default(4096).describe("Largest `max_tokens` / `max_completion_tokens` a client may ask for."),
    maxConcurrentStreamsPerKey: positiveInt
      .nullable()
      .default(8)
      .describe("Streaming requests one key may have open at once (429 beyond); null = no limit."),
    requestsPerMinute: positiveInt
      .nullable()
      .default(600)
      .describe("Requests per key (per client IP without auth) per minute (429 + retry-after); null = no limit."),
    tokensPerMinute: positiveInt
      .nullable()
      .default(null)
      .describe("Prompt + generated tokens per key per minute (429 + retry-after); null = no limit."),
  })
  .strict();
export type LimitsConfig = z.infer<typeof limitsConfigSchema>;
