import { z } from "zod";

/** Cross-origin access for browser clients. Off (no CORS headers) while `origins` is empty. */
export const corsConfigSchema = z
  .object({
    /** Allowed origins, e.g. `https://app.example.com`; `*` allows any origin. */
    origins: z.array(z.union([z.literal("*"), z.url()])).default([]),
    /** How long browsers may cache a preflight answer. */
    maxAgeSeconds: z.number().int().nonnegative().default(600),
  })
  .strict();
export type CorsConfig = z.infer<typeof corsConfigSchema>;
