/**
 * Persona sources: the built-in set, a folder of user persona files (`--personas DIR`), or domain
 * names the model turns into personas itself (`--domains "a,b,c"`).
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { BootstrapError } from "../../errors.js";
import { BUILTIN_PERSONAS } from "./builtin.js";
import { completePersona, personaFileSchema, type Persona } from "./schema.js";

const PERSONA_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);
/** Persona files are small text; anything bigger is not a persona file. */
const MAX_PERSONA_FILE_BYTES = 256 * 1024;

export function builtinPersonas(): Persona[] {
  return BUILTIN_PERSONAS.map((p) => ({ ...p }));
}

function assertUniqueNames(personas: readonly Persona[], source: string): void {
  const seen = new Set<string>();
  for (const p of personas) {
    if (seen.has(p.name)) throw new BootstrapError(`${source}: persona name '${p.name}' appears twice`);
    seen.add(p.name);
  }
}

/**
 * Reads every `.yaml`/`.yml`/`.json` file directly inside `dir` (no recursion, no symlinked files),
 * validates each and reports all problems at once.
 */
export async function loadPersonaDir(dir: string): Promise<Persona[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => PERSONA_EXTENSIONS.has(extname(n).toLowerCase())).sort();
  } catch (err) {
    throw new BootstrapError(`--personas ${dir}: cannot read folder (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (names.length === 0) throw new BootstrapError(`--personas ${dir}: no .yaml, .yml or .json persona files`);
  const personas: Persona[] = [];
  const problems: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const info = await stat(path);
    if (!info.isFile()) continue;
    if (info.size > MAX_PERSONA_FILE_BYTES) {
      problems.push(`${name}: ${info.size} bytes, larger than ${MAX_PERSONA_FILE_BYTES}`);
      continue;
    }
    let raw: unknown;
    try {
      const text = await readFile(path, "utf8");
      raw = extname(name).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text);
    } catch (err) {
      problems.push(`${name}: not valid ${extname(name).slice(1).toUpperCase()} (${(err as Error).message.split("\n")[0]})`);
      continue;
    }
    // Parse a list and a single persona separately: a union would hide the real issue behind "Invalid input".
    const parsed = Array.isArray(raw) ? personaFileSchema.options[1].safeParse(raw) : personaFileSchema.options[0].safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${name}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
      continue;
    }
    for (const entry of Array.isArray(parsed.data) ? parsed.data : [parsed.data]) personas.push(completePersona(entry));
  }
  if (problems.length > 0) throw new BootstrapError(`--personas ${dir}: invalid persona files:\n  - ${problems.join("\n  - ")}`);
  assertUniqueNames(personas, `--personas ${dir}`);
  return personas;
}

/** `"tax law, Marine Biology"` → `[{domain:"tax law", name:"tax_law"}, ...]`. */
export function parseDomains(list: string): { domain: string; name: string }[] {
  const domains = list
    .split(",")
    .map((d) => d.trim().replace(/\s+/g, " "))
    .filter((d) => d !== "");
  if (domains.length === 0) throw new BootstrapError(`--domains: give at least one domain name, e.g. "tax law,poetry"`);
  const out = domains.map((domain) => {
    if (domain.length > 80) throw new BootstrapError(`--domains: '${domain.slice(0, 40)}…' is longer than 80 characters`);
    const name = domain
      .toLowerCase()
      .normalize("NFKD")
      .replace(/[^a-z0-9]+/g, "_")
      .replace(/^_+|_+$/g, "")
      .slice(0, 40);
    if (name === "") throw new BootstrapError(`--domains: '${domain}' has no letters or digits to name a persona`);
    return { domain, name };
  });
  const seen = new Set<string>();
  for (const d of out) {
    if (seen.has(d.name)) throw new BootstrapError(`--domains: two domains map to the persona name '${d.name}'`);
    seen.add(d.name);
  }
  return out;
}
