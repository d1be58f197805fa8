import { z } from "zod";

/** Scheduling and shutdown. */
export const engineConfigSchema = z
  .object({
    /** Requests allowed to wait for a sequence (all adapters); beyond it → 429. */
    maxQueue: z.number().int().min(0).default(32),
    /** Longest a request may wait for a sequence. */
    queueTimeoutMs: z.number().int().positive().default(60_000),
    /** SIGTERM: how long in-flight requests may take to finish before they are cut. */
    drainTimeoutMs: z.number().int().min(0).default(30_000),
  })
  .strict();
export type EngineConfig = z.infer<typeof engineConfigSchema>;
