/**
 * Loads one adapter pack folder and checks it against the served model. Every problem found is
 * collected (not just the first) into one AdapterPackError, so `prism adapters validate` and the
 * server's log line say everything that is wrong at once.
 */
import { readFile, realpath, stat } from "node:fs/promises";
import { basename, join, relative, isAbsolute } from "node:path";
import { AdapterPackError } from "../errors.js";
import { GateHead } from "../gate/head.js";
import { readGgufHeader, type GgufHeader } from "../gguf/index.js";
import { gateHeadFileSchema } from "../gate/head-format.js";
import { MANIFEST_FILE, packManifestSchema, type PackManifest } from "./manifest.js";
import type { ServedModel } from "./served-model.js";

export interface AdapterPack {
  readonly name: string;
  /** Absolute, resolved pack folder. */
  readonly dir: string;
  readonly manifest: PackManifest;
  readonly personaText: string;
  /** Resolved LoRA GGUF path, null for persona-prompt packs. */
  readonly loraPath: string | null;
  readonly gate: GateHead;
  /** Effective threshold: the manifest's, else the head's own. */
  readonly threshold: number;
  /** Bumped on every (re)load, so callers can tell a replaced pack from the old one. */
  readonly loadedAt: number;
}

/** Resolves `file` inside `dir`, following symlinks, and refuses anything that lands outside it. */
async function resolveInside(dir: string, file: string, what: string, problems: string[]): Promise<string | null> {
  const target = join(dir, file);
  let real: string;
  try {
    real = await realpath(target);
  } catch {
    problems.push(`${what}: file '${file}' does not exist`);
    return null;
  }
  const rel = relative(dir, real);
  if (rel.startsWith("..") || isAbsolute(rel)) {
    problems.push(`${what}: '${file}' resolves outside the pack folder`);
    return null;
  }
  if (!(await stat(real)).isFile()) {
    problems.push(`${what}: '${file}' is not a regular file`);
    return null;
  }
  return real;
}

function formatZodPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? "(root)" : path.map(String).join(".");
}

/** Checks the LoRA GGUF header: an adapter for this architecture whose tensors fit the base shapes. */
async function checkLora(path: string, file: string, served: ServedModel, problems: string[]): Promise<void> {
  let header: GgufHeader;
  try {
    header = await readGgufHeader(path);
  } catch (error) {
    problems.push(`lora: '${file}' is not a readable GGUF file (${(error as Error).message})`);
    return;
  }
  const meta = header.metadata;
  const generalType = meta.get("general.type")?.value;
  const adapterType = meta.get("adapter.type")?.value;
  const architecture = meta.get("general.architecture")?.value;
  if (generalType !== "adapter" || adapterType !== "lora") {
    problems.push(`lora: '${file}' is not a LoRA adapter (general.type=${String(generalType)}, adapter.type=${String(adapterType)})`);
  }
  if (architecture !== served.architecture) {
    problems.push(`lora: '${file}' is for architecture '${String(architecture)}', the served model is '${served.architecture}'`);
  }
  if (header.tensors.length === 0) problems.push(`lora: '${file}' has no tensors`);
  const dims = new Map(header.tensors.map((t) => [t.name, t.shape]));
  const mismatches: string[] = [];
  for (const [name, d] of dims) {
    const m = /^(.*)\.lora_a$/.exec(name);
    if (!m) continue;
    const baseName = m[1]!;
    const b = dims.get(`${baseName}.lora_b`);
    const base = served.tensorDims.get(baseName);
    if (!b) mismatches.push(`${baseName}: lora_a without lora_b`);
    else if (!base) mismatches.push(`${baseName}: no such tensor in the served model`);
    // lora_a ne=[in, r], lora_b ne=[r, out]; base ne=[in, out].
    else if (d[0] !== base[0] || b[1] !== base[1] || d[1] !== b[0]) {
      mismatches.push(`${baseName}: lora [${d}]x[${b}] does not fit base [${base}]`);
    }
  }
  if (mismatches.length > 0) {
    problems.push(`lora: '${file}' does not fit the served model: ${mismatches.slice(0, 5).join(", ")}${mismatches.length > 5 ? ` (+${mismatches.length - 5} more)` : ""}`);
  }
}

export async function loadAdapterPack(packDir: string, served: ServedModel): Promise<AdapterPack> {
  const label = basename(packDir);
  const problems: string[] = [];
  let dir: string;
  try {
    dir = await realpath(packDir);
  } catch {
    throw new AdapterPackError(label, [`pack folder '${packDir}' does not exist`]);
  }

  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(join(dir, MANIFEST_FILE), "utf8"));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new AdapterPackError(label, [
      code === "ENOENT" ? `${MANIFEST_FILE} is missing` : `${MANIFEST_FILE} is not valid JSON: ${(error as Error).message}`,
    ]);
  }
  const parsed = packManifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new AdapterPackError(label, parsed.error.issues.map((i) => `manifest ${formatZodPath(i.path)}: ${i.message}`));
  }
  const manifest = parsed.data;
  const name = manifest.name;

  // Base model: architecture and shapes always, fingerprint when both sides have one.
  const bm = manifest.baseModel;
  if (bm.architecture !== served.architecture) problems.push(`base model architecture '${bm.architecture}' ≠ served '${served.architecture}'`);
  if (bm.embeddingLength !== served.embeddingLength) problems.push(`base model embedding length ${bm.embeddingLength} ≠ served ${served.embeddingLength}`);
  if (bm.blockCount !== served.blockCount) problems.push(`base model block count ${bm.blockCount} ≠ served ${served.blockCount}`);
  if (bm.vocabSize !== served.vocabSize) problems.push(`base model vocabulary ${bm.vocabSize} ≠ served ${served.vocabSize}`);
  if (bm.fingerprint !== null && served.fingerprint !== null && bm.fingerprint !== served.fingerprint) {
    problems.push(`base model fingerprint ${bm.fingerprint.slice(0, 16)}… ≠ served ${served.fingerprint.slice(0, 16)}…`);
  }

  let personaText = manifest.persona.text ?? "";
  if (manifest.persona.file !== undefined) {
    const p = await resolveInside(dir, manifest.persona.file, "persona", problems);
    if (p) personaText = (await readFile(p, "utf8")).trim();
    if (p && personaText.length === 0) problems.push(`persona: '${manifest.persona.file}' is empty`);
  }

  let loraPath: string | null = null;
  if (manifest.lora) {
    loraPath = await resolveInside(dir, manifest.lora.file, "lora", problems);
    if (loraPath) await checkLora(loraPath, manifest.lora.file, served, problems);
  }

  let gate: GateHead | null = null;
  const gatePath = await resolveInside(dir, manifest.gate.file, "gate", problems);
  if (gatePath) {
    let gateRaw: unknown;
    try {
      gateRaw = JSON.parse(await readFile(gatePath, "utf8"));
    } catch (error) {
      problems.push(`gate: '${manifest.gate.file}' is not valid JSON: ${(error as Error).message}`);
    }
    if (gateRaw !== undefined) {
      const g = gateHeadFileSchema.safeParse(gateRaw);
      if (!g.success) {
        problems.push(...g.error.issues.slice(0, 5).map((i) => `gate ${formatZodPath(i.path)}: ${i.message}`));
      } else {
        gate = new GateHead(g.data);
        const f = g.data.features;
        const expected =
          f.kind === "token-embd" && f.pooling === "mean-max" ? 2 * served.embeddingLength : served.embeddingLength;
        if (f.dim !== expected) problems.push(`gate: features have ${f.dim} dims, the served model gives ${expected}`);
      }
    }
  }

  if (problems.length > 0 || gate === null) throw new AdapterPackError(name, problems);
  return {
    name,
    dir,
    manifest,
    personaText,
    loraPath,
    gate,
    threshold: manifest.gate.threshold ?? gate.threshold,
    loadedAt: Date.now(),
  };
}
