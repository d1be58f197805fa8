/**
 * Compute threads for engines in tests. llama.cpp's CPU threads spin-wait in barriers, so when more compute
 * threads run than there are free cores they burn their time slices waiting for a descheduled partner.
 * Measured on the shared 2-core machine (load ~16, SmolLM2, .cache/b2/measure-grammar.mts): 1 thread
 * 55 ms/token, 2 threads 2,100 ms/token. vitest runs up to 2 files at once, so each engine gets one core.
 * Production keeps `threads` = the real core count (src/config/sections/model.ts).
 */
import os from "node:os";

export const ENGINE_TEST_THREADS = Math.max(1, Math.floor(os.availableParallelism() / 2));
