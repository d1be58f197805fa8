import { z } from "zod";

/** A stable, non-secret name for a key: appears in logs, metrics and A/B events instead of the key. */
export const keyIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, "key id: 1-64 characters of A-Z a-z 0-9 _ . -");

/** One API key. Either the secret itself or its SHA-256 (hex) so key files need not hold secrets. */
export const apiKeySpecSchema = z
  .object({
    id: keyIdSchema.optional().describe("Stable non-secret id (logs, metrics, A/B); default key_<12 hex of its SHA-256>."),
    key: z.string().min(16, "API keys must be at least 16 characters").optional().describe("The secret."),
    keySha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "keySha256 must be 64 lowercase hex digits")
      .optional()
      .describe("Instead of `key`: its SHA-256 in hex (quote it in YAML)."),
    admin: z.boolean().default(false).describe("May call admin routes as well as the API."),
    requestsPerMinute: z.number().int().positive().optional().describe("Overrides limits.requestsPerMinute for this key."),
    tokensPerMinute: z.number().int().positive().optional().describe("Overrides limits.tokensPerMinute for this key."),
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
    keys: z.array(apiKeySpecSchema).default([]).describe("Inline API keys: {id?, key | keySha256, admin?, requestsPerMinute?, tokensPerMinute?}."),
    keysFile: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe("YAML/JSON file with a list of keys (or {keys: [...]}), same fields as `keys`; read at start."),
    required: z.boolean().default(false).describe("Refuse to start when no API key is configured (production safety net)."),
    publicPaths: z
      .array(z.string().startsWith("/"))
      .default(["/health", "/ready", "/metrics"])
      .describe("Route paths served without a key (probes, Prometheus scrape)."),
    adminPathPrefixes: z
      .array(z.string().startsWith("/"))
      .default(["/admin", "/v1/admin"])
      .describe("Route path prefixes that need an admin key."),
  })
  .strict();
export type AuthConfig = z.infer<typeof authConfigSchema>;
