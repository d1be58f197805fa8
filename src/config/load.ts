/**
 * Reads the configuration from a JSON/YAML file and/or `PRISM_*` environment variables (env wins) and
 * validates it once, reporting every problem together as a ConfigError.
 *
 * Env mapping: `PRISM_<SECTION>_<FIELD>` with the field in SCREAMING_SNAKE_CASE, e.g. `PRISM_SERVER_PORT=9000`,
 * `PRISM_MODEL_CONTEXT_SIZE=2048`, `PRISM_ENGINE_MAX_QUEUE=8`. Values are parsed as JSON when they parse
 * (numbers, booleans, null, arrays), else taken as strings. `PRISM_CONFIG` names the file.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../errors.js";
import { configSchema, configSections, type PrismConfig } from "./schema.js";

const camelToEnv = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();

function parseEnvValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Nested object from `PRISM_<SECTION>_<FIELD>` variables naming known fields; unknown ones are reported. */
export function configFromEnv(env: NodeJS.ProcessEnv): { value: Record<string, Record<string, unknown>>; problems: string[] } {
  const value: Record<string, Record<string, unknown>> = {};
  const known = new Map<string, [string, string]>();
  for (const [section, schema] of Object.entries(configSections)) {
    for (const field of Object.keys(schema.shape)) {
      known.set(`PRISM_${camelToEnv(section)}_${camelToEnv(field)}`, [section, field]);
    }
  }
  const problems: string[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith("PRISM_") || raw === undefined || name === "PRISM_CONFIG") continue;
    const target = known.get(name);
    if (!target) {
      // Other PRISM_* variables (e.g. PRISM_API_KEYS) are read by their modules; only flag section-like typos.
      const section = Object.keys(configSections).find((s) => name.startsWith(`PRISM_${camelToEnv(s)}_`));
      if (section) problems.push(`${name}: unknown setting in section '${section}'`);
      continue;
    }
    const [section, field] = target;
    (value[section] ??= {})[field] = parseEnvValue(raw);
  }
  return { value, problems };
}

export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError([`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`]);
  }
  try {
    return file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError([`${file}: not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(error as Error).message}`]);
  }
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (typeof base !== "object" || base === null || Array.isArray(base)) return over;
  if (typeof over !== "object" || over === null || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(out[k], v);
  return out;
}

/** Validates a raw config object; every issue becomes one `path: message` line. */
export function parseConfig(raw: unknown, extraProblems: readonly string[] = []): PrismConfig {
  const result = configSchema.safeParse(raw ?? {});
  const problems = [...extraProblems];
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(`${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}

export interface LoadConfigOptions {
  readonly file?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  /** Highest precedence (CLI flags). */
  readonly overrides?: Record<string, unknown>;
}

export function loadConfig(options: LoadConfigOptions = {}): PrismConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env.PRISM_CONFIG;
  const fromFile = file ? readConfigFile(file) : {};
  const fromEnv = configFromEnv(env);
  const merged = deepMerge(deepMerge(fromFile ?? {}, fromEnv.value), options.overrides ?? {});
  return parseConfig(merged, fromEnv.problems);
}
