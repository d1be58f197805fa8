/**
 * node-llama-cpp as tests use it (CPU, no builds) and the compute threads each test engine gets.
 *
 * llama.cpp's CPU threads spin-wait in barriers, so when more compute threads run than there are free cores
 * they burn their time slices waiting for a descheduled partner. Measured on a loaded 2-core machine
 * (SmolLM2): 1 thread 55 ms/token, 2 threads 2,100 ms/token. vitest runs up to 2 files at once
 * (vitest.config.ts maxWorkers), so each test engine gets half the cores. Production keeps `threads` =
 * the real core count (src/config/sections/model.ts).
 */
import os from "node:os";
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";

export const TEST_THREADS = Math.max(1, Math.floor(os.availableParallelism() / 2));

export function getTestLlama(): Promise<Llama> {
  return getLlama({ gpu: false, maxThreads: TEST_THREADS, build: "never", logLevel: LlamaLogLevel.error });
}
