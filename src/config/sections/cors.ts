import { z } from "zod";

/** Cross-origin access for browser clients. Off (no CORS headers) while `origins` is empty. */
export const corsConfigSchema = z
  .object({
    origins: z
      .array(z.union([z.literal("*"), z.url()]))
      .default([])
      .describe("Allowed browser origins, e.g. https://app.example.com, or * for any; empty = CORS off."),
    maxAgeSeconds: z.number().int().nonnegative().default(600).describe("How long browsers may cache a preflight answer."),
  })
  .strict();
export type CorsConfig = z.infer<typeof corsConfigSchema>;
