import { z } from "zod";

/** Where A/B response events and feedback are stored. */
export const databaseConfigSchema = z
  .object({
    url: z
      .string()
      .regex(/^(postgres(ql)?:\/\/.+)?$/, "a postgres:// or postgresql:// URL (empty = SQLite)")
      .nullable()
      .default(null)
      .describe("PostgreSQL connection URL (PRISM_DATABASE_URL); shared by replicas. Unset or empty: the SQLite file below."),
    sqlitePath: z
      .string()
      .min(1)
      .default("data/ab-events.sqlite")
      .describe("SQLite file used without a URL (relative to the working directory); `prism ab report` reads the same default."),
    eventBufferSize: z
      .number()
      .int()
      .min(1)
      .default(50_000)
      .describe("Response events held in memory while the database is slow or down; beyond it the oldest are dropped and counted."),
    flushIntervalMs: z.number().int().min(10).default(250).describe("How often buffered events are written."),
  })
  .strict();
export type DatabaseConfig = z.infer<typeof databaseConfigSchema>;
