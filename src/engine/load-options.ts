/** The engine's load options as the `model` and `engine` config sections set them: one mapping for serve and tests. */
import type { PrismConfig } from "../config/schema.js";
import type { EngineLoadOptions } from "./types.js";

export function engineLoadOptions(
  config: Pick<PrismConfig, "model" | "engine">,
  modelPath: string,
  overrides: Partial<Omit<EngineLoadOptions, "modelPath">> = {},
): EngineLoadOptions {
  return {
    modelPath,
    threads: config.model.threads,
    contextSize: config.model.contextSize,
    sequencesPerContext: config.model.sequences,
    gpu: config.model.gpu,
    maxQueue: config.engine.maxQueue,
    queueTimeoutMs: config.engine.queueTimeoutMs,
    stepAlignMaxWaitMs: config.engine.stepAlignMaxWaitMs,
    batchOrder: config.engine.batchOrder,
    flashAttention: config.engine.flashAttention,
    decodeAhead: config.engine.decodeAhead,
    ...overrides,
  };
}
