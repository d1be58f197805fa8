import { z } from "zod";

/** A stable, non-secret name for a key: appears in logs, metrics and A/B events instead of the key. */
export const keyIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, "key id: 1-64 characters of A-Z a-z 0-9 _ . -");

/** One API key. Either the secret itself or its SHA-256 (hex) so key files need not hold secrets. */
export const apiKeySpecSchema = z
  .object({
    id: keyIdSchema.optional(),
    key: z.string().min(16, "API keys must be at least 16 characters").optional(),
    keySha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "keySha256 must be 64 lowercase hex digits")
      .optional(),
    /** Admin keys may call admin routes (adapter hot-swap, experiments) as well as the API. */
    admin: z.boolean().default(false),
    /** Per-key overrides of `limits.requestsPerMinute` / `limits.tokensPerMinute`. */
    requestsPerMinute: z.number().int().positive().optional(),
    tokensPerMinute: z.number().int().positive().optional(),
  })
  .refine((k) => (k.key === undefined) !== (k.keySha256 === undefined), {
    message: "give exactly one of key or keySha256",
  });
export type ApiKeySpec = z.infer<typeof apiKeySpecSchema>;

/**
 * API keys. Authentication is on as soon as one key exists (inline, `keysFile`, or the env vars
 * PRISM_API_KEYS / PRISM_ADMIN_KEYS, comma-separated); with no key at all the gateway is open.
 */
export const authConfigSchema = z
  .object({
    keys: z.array(apiKeySpecSchema).default([]),
    /** YAML or JSON file with a list of keys (same fields as `keys`); read once at start. */
    keysFile: z.string().min(1).nullable().default(null),
    /** Refuse to start when no key is configured (production safety net). */
    required: z.boolean().default(false),
    /** Paths served without a key (probes and the Prometheus scrape). */
    publicPaths: z.array(z.string().startsWith("/")).default(["/health", "/ready", "/metrics"]),
    /** Path prefixes that need an admin key. */
    adminPathPrefixes: z.array(z.string().startsWith("/")).default(["/admin", "/v1/admin"]),
  })
  .strict();
export type AuthConfig = z.infer<typeof authConfigSchema>;
