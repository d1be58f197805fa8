/**
 * vitest globalSetup: builds the fixture model/LoRA into `.cache/fixtures` (only when the generator version
 * or seed changed) and makes sure the real default model is in `models/` (fetched and verified once).
 * Paths reach tests through `inject()`; see test/helpers/paths.ts.
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { createFixtures, DEFAULT_FIXTURE_SEED, FIXTURE_STAMP_FILE, FIXTURES_VERSION, type FixturePaths } from "../src/fixtures/index.js";
import { resolveModel } from "../src/models/index.js";

const FIXTURES_DIR = resolve(".cache/fixtures");
const MODELS_DIR = resolve("models");

async function cachedFixtures(): Promise<FixturePaths | undefined> {
  try {
    const stamp = JSON.parse(await readFile(join(FIXTURES_DIR, FIXTURE_STAMP_FILE), "utf8")) as FixturePaths;
    return stamp.version === FIXTURES_VERSION && stamp.seed === DEFAULT_FIXTURE_SEED && stamp.dir === FIXTURES_DIR ? stamp : undefined;
  } catch {
    return undefined;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const fixtures = (await cachedFixtures()) ?? (await createFixtures(FIXTURES_DIR, { seed: DEFAULT_FIXTURE_SEED }));
  const model = await resolveModel("default", {
    modelsDir: MODELS_DIR,
    log: (line) => process.stderr.write(`[global-setup] ${line}\n`),
  });
  project.provide("fixtures", fixtures);
  project.provide("defaultModelPath", model.path);
}

declare module "vitest" {
  export interface ProvidedContext {
    fixtures: FixturePaths;
    defaultModelPath: string;
  }
}
