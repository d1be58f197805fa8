/** Paths prepared by test/global-setup.ts. */
import { inject } from "vitest";
import type { FixturePaths } from "../../src/fixtures/index.js";

/** The tiny fixture model, its LoRA and (once src/adapters adds it) the adapter pack, in `.cache/fixtures`. */
export function fixturePaths(): FixturePaths {
  return inject("fixtures");
}

/** The verified SmolLM2-135M-Instruct GGUF in `models/`. */
export function defaultModelPath(): string {
  return inject("defaultModelPath");
}
