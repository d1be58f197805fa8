import { z } from "zod";
import { experimentsConfigSchema } from "../../ab/experiments.js";

/**
 * A/B experiments (schema owned by src/ab/experiments.ts): inline, and/or from a YAML file in the same
 * `{experiments: [...]}` format. None by default: every request is routed by the gate.
 */
export const experimentsSectionSchema = experimentsConfigSchema
  .extend({
    experiments: experimentsConfigSchema.shape.experiments.describe(
      "Inline experiments: {name, enabled?, coverage?, keys?, arms: [{name, target: routed | base | persona:<name>, weight?}]}.",
    ),
    file: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe("YAML file with more experiments ({experiments: [...]}), read at start; names must not repeat inline ones."),
  })
  .strict();
export type ExperimentsSection = z.infer<typeof experimentsSectionSchema>;
