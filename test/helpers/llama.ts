/** A node-llama-cpp instance configured as the team standard requires (CPU, real core count, no builds). */
import os from "node:os";
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";

export const TEST_THREADS = os.availableParallelism();

export function getTestLlama(): Promise<Llama> {
  return getLlama({ gpu: false, maxThreads: TEST_THREADS, build: "never", logLevel: LlamaLogLevel.error });
}
