/**
 * A fixture adapter pack for the tiny fixture model, so tests serve a real pack: manifest, the
 * fixture LoRA, a persona text and a gate head trained here (seeded) on the gateway's own gate
 * features of two small prompt families:
 *   apply  — writing requests ("please write ...", "help me write ..."),
 *   retain — short knowledge questions ("what is the number of ...").
 * Tests route prompts of these families and check that the headers report what the gate decided.
 * A second, persona-prompt pack `helper` (no LoRA, threshold 1 so the gate never picks it) is served
 * when forced, exercising that mode.
 */
import os from "node:os";
import { copyFile, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LlamaEngine } from "../engine/llama-engine.js";
import { GateFeatureExtractor } from "../gate/features.js";
import type { FeatureSpec } from "../gate/head-format.js";
import { TokenEmbeddingTable } from "../gate/token-embeddings.js";
import { trainGateHead, type GateSample } from "../gate/train.js";
import { MANIFEST_FILE, type PackManifestInput } from "./manifest.js";
import { baseModelSpecOf, describeServedModel } from "./served-model.js";

const WRITE_TOPICS = ["a story", "a poem", "a letter", "an answer", "the first part", "a long word", "about people", "about water", "about time", "about the world"];
const ASK_TOPICS = ["the number", "the name", "the water", "the time", "the first day", "the word", "the oil", "the people", "the answer", "the world"];

/** Prompt families the fixture gate separates (exported so tests use the same ones). */
export const FIXTURE_APPLY_PROMPTS = WRITE_TOPICS.flatMap((t) => [`please write ${t}`, `help me write ${t}`, `write ${t} for my people`]);
export const FIXTURE_RETAIN_PROMPTS = ASK_TOPICS.flatMap((t) => [`what is ${t}?`, `how many is ${t}?`, `what was ${t} of it?`]);

export interface FixturePackPaths {
  /** Folder holding the packs (an `adapters/` folder for tests). */
  readonly adaptersDir: string;
  /** LoRA pack `writer`. */
  readonly loraPackDir: string;
  /** Persona-prompt pack `helper` (no LoRA). */
  readonly promptPackDir: string;
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(value, null, 2) + "\n");
  await rename(`${path}.tmp`, path);
}

export async function writeFixturePacks(
  outDir: string,
  fixture: { readonly modelPath: string; readonly loraPath: string; readonly seed: number },
): Promise<FixturePackPaths> {
  const adaptersDir = join(outDir, "adapters");
  await rm(adaptersDir, { recursive: true, force: true });
  const served = await describeServedModel(fixture.modelPath);
  const spec: FeatureSpec = { kind: "token-embd", pooling: "mean-max", dim: 2 * served.embeddingLength };

  const engine = new LlamaEngine();
  await engine.load({
    modelPath: fixture.modelPath,
    threads: os.availableParallelism(),
    contextSize: 256,
    sequencesPerContext: 1,
    gpu: false,
    maxQueue: 1,
    queueTimeoutMs: 10_000,
  });
  let samples: GateSample[];
  try {
    const extractor = new GateFeatureExtractor({ engine, tokenEmbeddings: await TokenEmbeddingTable.fromGguf(fixture.modelPath) });
    samples = [
      ...(await Promise.all(FIXTURE_APPLY_PROMPTS.map(async (p) => ({ features: await extractor.extract(spec, p), label: "apply" })))),
      ...(await Promise.all(FIXTURE_RETAIN_PROMPTS.map(async (p) => ({ features: await extractor.extract(spec, p), label: "retain" })))),
    ];
  } finally {
    await engine.dispose();
  }
  const gate = trainGateHead(samples, { features: spec, hidden: 32, seed: fixture.seed, heldOutFraction: 0, maxEpochs: 150, learningRate: 3e-3 });

  const packs = [
    { name: "writer", mode: "lora" as const, intents: ["generative" as const] },
    { name: "helper", mode: "persona-prompt" as const, intents: ["safety" as const] },
  ];
  for (const p of packs) {
    const dir = join(adaptersDir, p.name);
    await mkdir(dir, { recursive: true });
    if (p.mode === "lora") await copyFile(fixture.loraPath, join(dir, "adapter.gguf"));
    await writeJsonAtomic(join(dir, "gate.json"), gate.file);
    const manifest: PackManifestInput = {
      schemaVersion: 1,
      name: p.name,
      description: `fixture ${p.mode} pack for the tiny test model`,
      mode: p.mode,
      persona: { text: p.name === "writer" ? "You are an expert writer." : "You are a careful, helpful assistant." },
      lora: p.mode === "lora" ? { file: "adapter.gguf", scale: 1 } : null,
      intents: p.intents,
      // The persona-prompt pack never wins the gate (P(apply) > 1 is impossible): it is served when forced.
      gate: { file: "gate.json", threshold: p.mode === "lora" ? 0.5 : 1 },
      baseModel: baseModelSpecOf(served),
      provenance: { generator: "src/adapters/fixture-pack.ts", seed: fixture.seed, gate: gate.report },
    };
    await writeJsonAtomic(join(dir, MANIFEST_FILE), manifest);
  }
  return { adaptersDir, loraPackDir: join(adaptersDir, "writer"), promptPackDir: join(adaptersDir, "helper") };
}
