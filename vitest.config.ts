import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // The engine runs real models on 2 cores: files share the CPU, so keep parallelism low.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // The second reporter prints a plain "tests: N passed, N failed, N skipped" closing line for CI.
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
  },
});
