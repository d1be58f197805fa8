/**
 * Adapter pack manifest: `adapters/<name>/manifest.json`. The zod schema is the single source of
 * truth for the pack format; `prism adapters validate` and the registry both parse with it.
 *
 * A pack is one persona: its prompt text(s), optionally a GGUF LoRA distilled from that persona,
 * the gate head that decides when to apply it, and the base model it was built for.
 */
import { z } from "zod";

/** Relative file inside the pack folder. Escapes are checked again on disk (symlinks) by the loader. */
const packRelativeFile = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split(/[\\/]/).includes(".."), {
    message: "must be a relative path inside the pack folder (no leading '/', no '..')",
  });

export const intentSchema = z.enum(["generative", "discriminative", "safety"]);
export type Intent = z.infer<typeof intentSchema>;

export const packNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "lowercase letters, digits, '-' or '_', at most 64 characters")
  .refine((n) => n !== "base" && n !== "auto", { message: "'base' and 'auto' are reserved route names" });

export const personaSchema = z.object({
  /** Persona prompt text as used at training time (the long form in PRISM). */
  text: z.string().min(1).optional(),
  /** Alternatively a text file in the pack. */
  file: packRelativeFile.optional(),
  /** Shorter forms, informational. */
  medium: z.string().optional(),
  short: z.string().optional(),
});

export const baseModelSchema = z.object({
  architecture: z.string().min(1),
  embeddingLength: z.number().int().positive(),
  blockCount: z.number().int().positive(),
  vocabSize: z.number().int().positive(),
  /** `fingerprintGguf` of the served model; null = not pinned (shapes are still checked). */
  fingerprint: z.string().min(1).nullable().default(null),
});
export type BaseModelSpec = z.infer<typeof baseModelSchema>;

export const packManifestSchema = z
  .object({
    schemaVersion: z.literal(1),
    name: packNameSchema,
    description: z.string().default(""),
    /**
     * `lora`: the gate decides whether the LoRA is applied (PRISM inference).
     * `persona-prompt`: no LoRA distilled yet; the gate decides whether the persona text is injected as
     * the system prompt. Stated plainly so nobody mistakes it for a distilled adapter.
     */
    mode: z.enum(["lora", "persona-prompt"]),
    persona: personaSchema.refine((p) => p.text !== undefined || p.file !== undefined, {
      message: "persona needs 'text' or 'file'",
    }),
    lora: z
      .object({
        file: packRelativeFile,
        scale: z.number().positive().max(4).default(1),
      })
      .nullable()
      .default(null),
    /** Intents this persona serves (informational for routing reports). */
    intents: z.array(intentSchema).min(1).default(["generative"]),
    gate: z.object({
      file: packRelativeFile,
      /** Apply when P(apply) > threshold. Overrides the head's own default. */
      threshold: z.number().min(0).max(1).optional(),
    }),
    baseModel: baseModelSchema,
    provenance: z.record(z.string(), z.unknown()).default({}),
  })
  .superRefine((m, ctx) => {
    if (m.mode === "lora" && m.lora === null) {
      ctx.addIssue({ code: "custom", path: ["lora"], message: "mode 'lora' needs a lora file" });
    }
    if (m.mode === "persona-prompt" && m.lora !== null) {
      ctx.addIssue({ code: "custom", path: ["mode"], message: "a pack with a lora file must have mode 'lora'" });
    }
  });

export type PackManifest = z.infer<typeof packManifestSchema>;
export type PackManifestInput = z.input<typeof packManifestSchema>;

export const MANIFEST_FILE = "manifest.json";
