/**
 * Short CI form of the soak (~30 s, `PRISM_SOAK_SECONDS` to change) on the tiny fixture model with its LoRA
 * as a forced persona. The 10-minute form runs through `npm run reliability`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatFigures } from "../../reliability/figures.js";
import { reliabilityThreads, startGateway, type LiveGateway } from "../../reliability/gateway.js";
import { runSoak } from "../../reliability/soak.js";
import { fixturePaths } from "../helpers/paths.js";

const SECONDS = Number(process.env.PRISM_SOAK_SECONDS ?? 30);

describe("soak (short)", () => {
  let gateway: LiveGateway;
  beforeAll(async () => {
    const fixtures = fixturePaths();
    gateway = await startGateway({ modelPath: fixtures.modelPath, adapters: [{ name: "fixture", path: fixtures.loraPath }], threads: reliabilityThreads(1), contextSize: 1024, sequences: 2, maxQueue: 8 });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it("serves steady mixed traffic without errors, RSS growth or latency drift", async () => {
    const figures = await runSoak(gateway, { durationMs: SECONDS * 1000, windows: 6, concurrency: 3, maxTokens: 24, persona: "fixture" });
    console.log(formatFigures(figures));
    console.log("   windows:", JSON.stringify(figures.windows));
    expect(figures.failureSamples).toEqual([]);
    expect(figures.leaks).toBe(0);
    expect(figures.requests).toBeGreaterThan(30);
    expect(figures.notes.errorRateLate).toBe(0);
    expect(figures.notes.rssGrowthPct).toBeLessThan(10);
    // Retained JS memory (after full GCs) must not grow with the request count.
    expect(Number(figures.notes.retainedHeapEndMb) - Number(figures.notes.retainedHeapAfterWarmupMb)).toBeLessThan(8);
    // Shared 2-core CI machine: latency is noisy, so only a gross drift fails here; the long run reports the ratio.
    expect(figures.notes.p95LateOverEarly).toBeLessThan(3);
  }, 600_000);
});
