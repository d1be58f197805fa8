/**
 * Generates the configuration and metrics reference in docs/operations.md from the code itself: the zod
 * config schema (src/config/schema.ts) and the gateway's Prometheus registry (src/telemetry/metrics.ts).
 *
 *   npx tsx scripts/gen-config-docs.ts          rewrite the generated blocks
 *   npx tsx scripts/gen-config-docs.ts --check  exit 1 when docs/operations.md is stale (CI)
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { configSchema, configSections } from "../src/config/schema.js";
import { AbArmMetrics } from "../src/ab/metrics.js";
import { GatewayMetrics } from "../src/telemetry/metrics.js";

export const DOC_PATH = join(fileURLToPath(new URL(".", import.meta.url)), "..", "docs", "operations.md");

/** Defaults computed on the machine at start; documented by what they are, not this machine's value. */
const MACHINE_DEFAULTS: Record<string, string> = { "model.threads": "CPU cores (`os.availableParallelism()`)" };

interface JsonSchemaNode {
  type?: string;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchemaNode[];
  items?: JsonSchemaNode;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  properties?: Record<string, JsonSchemaNode>;
}

const camelToEnv = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();

function typeOf(node: JsonSchemaNode): string {
  if (node.anyOf) return node.anyOf.map(typeOf).join(" \\| ");
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (node.enum) return node.enum.map((v) => JSON.stringify(v)).join(" \\| ");
  if (node.type === "array") return `${node.items ? typeOf(node.items) : "unknown"}[]`;
  if (node.type === "integer") {
    const min = node.minimum ?? (node.exclusiveMinimum !== undefined ? node.exclusiveMinimum + 1 : undefined);
    const max = node.maximum !== undefined && node.maximum < Number.MAX_SAFE_INTEGER ? node.maximum : undefined;
    if (min !== undefined && max !== undefined) return `integer ${min}–${max}`;
    if (min !== undefined) return `integer ≥ ${min}`;
    return "integer";
  }
  if (node.type === "object") return "object";
  return node.type ?? "any";
}

/**
 * Field descriptions: `.describe()` in the schema, else the JSDoc comment right above the field in
 * src/config/sections/<section>.ts (sections documented in comments only still get a description).
 */
function jsDocDescriptions(section: string): Record<string, string> {
  let source: string;
  try {
    source = readFileSync(join(DOC_PATH, "..", "..", "src", "config", "sections", `${section}.ts`), "utf8");
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  for (const m of source.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*\n\s*(\w+):/g)) {
    const text = (m[1] ?? "").replace(/^\s*\* ?/gm, "").replace(/\s+/g, " ").trim();
    if (m[2] !== undefined) out[m[2]] = text;
  }
  return out;
}

const cell = (text: string): string => text.replaceAll("|", "\\|").replaceAll("\n", " ");

export function renderConfigReference(): string {
  const schema = z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as JsonSchemaNode;
  const lines: string[] = [];
  for (const section of Object.keys(configSections)) {
    const node = schema.properties?.[section];
    const comments = jsDocDescriptions(section);
    lines.push(`### \`${section}\``, "", "| Setting | Env var | Type | Default | Description |", "| --- | --- | --- | --- | --- |");
    for (const [field, f] of Object.entries(node?.properties ?? {})) {
      const path = `${section}.${field}`;
      const def = MACHINE_DEFAULTS[path] ?? (f.default === undefined ? "—" : `\`${JSON.stringify(f.default)}\``);
      lines.push(
        `| \`${path}\` | \`PRISM_${camelToEnv(section)}_${camelToEnv(field)}\` | ${typeOf(f)} | ${cell(def)} | ${cell(f.description ?? comments[field] ?? "")} |`,
      );
    }
    lines.push("");
  }
  return lines.join("\n").trimEnd();
}

export async function renderMetricsReference(): Promise<string> {
  const metrics = new GatewayMetrics({ processMetrics: false });
  new AbArmMetrics(metrics.registry); // per-arm A/B metrics, registered on the same registry by `prism serve`
  const rows = (await metrics.registry.getMetricsAsJSON()).map((m) => {
    const labels = (metrics.registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    return `| \`${m.name}\` | ${m.type} | ${labels.map((l) => `\`${l}\``).join(", ") || "—"} | ${cell(m.help)} |`;
  });
  return ["| Metric | Type | Labels | Meaning |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

function replaceBlock(text: string, name: string, content: string): string {
  const start = `<!-- generated:${name}:start (scripts/gen-config-docs.ts) -->`;
  const end = `<!-- generated:${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`${DOC_PATH}: markers for '${name}' not found`);
  return `${text.slice(0, i + start.length)}\n${content}\n${text.slice(j)}`;
}

export async function renderOperationsDoc(current: string): Promise<string> {
  let text = replaceBlock(current, "config", renderConfigReference());
  text = replaceBlock(text, "metrics", await renderMetricsReference());
  return text;
}

async function main(): Promise<void> {
  const current = readFileSync(DOC_PATH, "utf8");
  const next = await renderOperationsDoc(current);
  if (process.argv.includes("--check")) {
    if (next !== current) {
      console.error(`${DOC_PATH} is out of date: run npx tsx scripts/gen-config-docs.ts`);
      process.exit(1);
    }
    console.log(`${DOC_PATH} is up to date`);
    return;
  }
  const tmp = `${DOC_PATH}.tmp-${process.pid}`;
  writeFileSync(tmp, next);
  renameSync(tmp, DOC_PATH);
  console.log(`wrote ${DOC_PATH}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
