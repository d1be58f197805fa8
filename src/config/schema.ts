/**
 * The one configuration schema, composed from per-module sections. To add a section: export its schema
 * from `sections/<name>.ts` (every field defaulted) and add it to `configSections` and `configSchema` below.
 */
import { z } from "zod";
import { adaptersConfigSchema } from "./sections/adapters.js";
import { authConfigSchema } from "./sections/auth.js";
import { corsConfigSchema } from "./sections/cors.js";
import { databaseConfigSchema } from "./sections/database.js";
import { engineConfigSchema } from "./sections/engine.js";
import { experimentsSectionSchema } from "./sections/experiments.js";
import { limitsConfigSchema } from "./sections/limits.js";
import { modelConfigSchema } from "./sections/model.js";
import { serverConfigSchema } from "./sections/server.js";
import { telemetryConfigSchema } from "./sections/telemetry.js";

export const configSections = {
  server: serverConfigSchema,
  model: modelConfigSchema,
  engine: engineConfigSchema,
  auth: authConfigSchema,
  cors: corsConfigSchema,
  limits: limitsConfigSchema,
  telemetry: telemetryConfigSchema,
  adapters: adaptersConfigSchema,
  experiments: experimentsSectionSchema,
  database: databaseConfigSchema,
} as const;

/** Every section defaults itself, so `{}` is a valid config. */
export const configSchema = z
  .object({
    server: configSections.server.prefault({}),
    model: configSections.model.prefault({}),
    engine: configSections.engine.prefault({}),
    auth: configSections.auth.prefault({}),
    cors: configSections.cors.prefault({}),
    limits: configSections.limits.prefault({}),
    telemetry: configSections.telemetry.prefault({}),
    adapters: configSections.adapters.prefault({}),
    experiments: configSections.experiments.prefault({}),
    database: configSections.database.prefault({}),
  })
  .strict();

export type PrismConfig = z.infer<typeof configSchema>;
/** What a config file or env may give: any subset. */
export type PrismConfigInput = z.input<typeof configSchema>;
