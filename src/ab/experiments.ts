/**
 * A/B experiment configuration and sticky arm assignment.
 *
 * An arm is `routed` (the PRISM gate decides), `base` (no adapter) or `persona:<name>` (that pack
 * forced). Assignment is a hash of (experiment, user) into the arms' weights, so a user stays in one
 * arm across requests and replicas without shared state. The user is the request's `user` field or
 * the `x-prism-user` header; without either, the conversation key is used so that at least one chat
 * stays in one arm.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError } from "../errors.js";

export const armTargetSchema = z.union([
  z.literal("routed"),
  z.literal("base"),
  z.string().regex(/^persona:[a-z0-9][a-z0-9_-]{0,63}$/, "an arm target is 'routed', 'base' or 'persona:<name>'"),
]);

export const armSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  target: armTargetSchema,
  /** Relative traffic weight. */
  weight: z.number().positive().default(1),
});

export const experimentSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
    enabled: z.boolean().default(true),
    /** Share of users that enter the experiment at all (the rest are routed normally, no arm). */
    coverage: z.number().min(0).max(1).default(1),
    /** Only requests made with these API key ids; empty = every key. */
    keys: z.array(z.string()).default([]),
    arms: z.array(armSchema).min(2),
  })
  .refine((e) => new Set(e.arms.map((a) => a.name)).size === e.arms.length, { message: "arm names must be unique" });

export const experimentsConfigSchema = z.object({
  experiments: z
    .array(experimentSchema)
    .default([])
    .refine((list) => new Set(list.map((e) => e.name)).size === list.length, { message: "experiment names must be unique" }),
});

export type Experiment = z.infer<typeof experimentSchema>;
export type Arm = z.infer<typeof armSchema>;
export type ExperimentsConfig = z.infer<typeof experimentsConfigSchema>;

export async function loadExperimentsConfig(path: string): Promise<ExperimentsConfig> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(path, "utf8"));
  } catch (error) {
    throw new ConfigError([`${path}: ${(error as Error).message}`]);
  }
  const parsed = experimentsConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${path}: ${i.path.map(String).join(".") || "(root)"}: ${i.message}`));
  }
  return parsed.data;
}

/** Uniform value in [0, 1) from a hash of the parts (first 48 bits of SHA-256). */
export function hashUnit(...parts: readonly string[]): number {
  const digest = createHash("sha256").update(JSON.stringify(parts)).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

export interface Assignment {
  readonly experiment: string;
  readonly arm: Arm;
}

export class ExperimentAssigner {
  constructor(private readonly config: ExperimentsConfig) {}

  get experiments(): readonly Experiment[] {
    return this.config.experiments;
  }

  /** The first enabled experiment in scope for this key that covers this user, and the user's arm. */
  assign(stickyId: string, keyId: string | undefined): Assignment | null {
    for (const e of this.config.experiments) {
      if (!e.enabled) continue;
      if (e.keys.length > 0 && (keyId === undefined || !e.keys.includes(keyId))) continue;
      if (hashUnit("coverage", e.name, stickyId) >= e.coverage) continue;
      const total = e.arms.reduce((a, arm) => a + arm.weight, 0);
      let point = hashUnit("arm", e.name, stickyId) * total;
      for (const arm of e.arms) {
        point -= arm.weight;
        if (point < 0) return { experiment: e.name, arm };
      }
      return { experiment: e.name, arm: e.arms[e.arms.length - 1]! };
    }
    return null;
  }
}
