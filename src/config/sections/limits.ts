import { z } from "zod";

const positiveInt = z.number().int().positive();

/** Request limits. `null` switches a limit off. Rate limits apply per API key (per client IP when auth is off). */
export const limitsConfigSchema = z
  .object({
    /** Largest accepted request body. */
    bodyLimitBytes: positiveInt.default(4 * 1024 * 1024),
    /** Most `messages` in one chat request. */
    maxMessages: positiveInt.default(256),
    /** Most prompt tokens after templating (checked after tokenization); null = the context window. */
    maxPromptTokens: positiveInt.nullable().default(null),
    /** Largest `max_tokens` / `max_completion_tokens` a client may ask for. */
    maxTokens: positiveInt.default(4096),
    /** Streaming requests one key may have open at once. */
    maxConcurrentStreamsPerKey: positiveInt.nullable().default(8),
    /** Requests per key per minute (@fastify/rate-limit). */
    requestsPerMinute: positiveInt.nullable().default(600),
    /** Prompt + generated tokens per key per minute. */
    tokensPerMinute: positiveInt.nullable().default(null),
  })
  .strict();
export type LimitsConfig = z.infer<typeof limitsConfigSchema>;
