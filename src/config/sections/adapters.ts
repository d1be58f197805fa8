import { z } from "zod";

/** Adapter packs served by `prism serve` (pack format: adapters/README.md). */
export const adaptersConfigSchema = z
  .object({
    dir: z
      .string()
      .min(1)
      .default("adapters")
      .describe("Folder of adapter packs, one subfolder per pack (relative to the working directory). A missing folder means no packs."),
    watch: z
      .boolean()
      .default(true)
      .describe("Watch the folder: packs added, changed or removed there are loaded, replaced or dropped without a restart."),
  })
  .strict();
export type AdaptersConfig = z.infer<typeof adaptersConfigSchema>;
