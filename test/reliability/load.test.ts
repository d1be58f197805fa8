/**
 * Short CI forms of the overload and disconnect-storm suites on the tiny fixture model (real engine, real
 * HTTP). Figures are printed; the long forms run through `npm run reliability`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDisconnectStorm } from "../../reliability/disconnect.js";
import { formatFigures } from "../../reliability/figures.js";
import { reliabilityThreads, startGateway, type LiveGateway } from "../../reliability/gateway.js";
import { runOverload } from "../../reliability/overload.js";
import { fixturePaths } from "../helpers/paths.js";

describe("overload (concurrency 8× sequences)", () => {
  let gateway: LiveGateway;
  beforeAll(async () => {
    gateway = await startGateway({ modelPath: fixturePaths().modelPath, threads: reliabilityThreads(1), contextSize: 256, sequences: 2, maxQueue: 4, queueTimeoutMs: 20_000 });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it("answers only 200 or 429 with retry-after, keeps the queue bounded and recovers", async () => {
    const figures = await runOverload(gateway, { concurrency: 16, durationMs: 10_000, maxTokens: 24 });
    console.log(formatFigures(figures));
    expect(figures.failureSamples).toEqual([]);
    expect(figures.failures).toBe(0);
    expect(Object.keys(figures.byStatus).sort()).toEqual(["200", "429"]);
    expect(figures.notes.offeredOverSequences).toBeGreaterThanOrEqual(4);
    expect(figures.notes.maxQueueSeen).toBeLessThanOrEqual(4);
    // Admitted requests waited at most the queue deadline, then generated ≤ 24 tokens.
    expect(figures.latencyMs.max).toBeLessThan(20_000 + 30_000);
    expect(figures.byStatus["200"]).toBeGreaterThan(10);
    expect(gateway.engine.stats()).toMatchObject({ activeSequences: 0, queueDepth: 0 });
  }, 300_000);
});

describe("disconnect storm", () => {
  let gateway: LiveGateway;
  beforeAll(async () => {
    const fixtures = fixturePaths();
    gateway = await startGateway({
      modelPath: fixtures.modelPath,
      adapters: [{ name: "fixture", path: fixtures.loraPath }],
      threads: reliabilityThreads(1),
      // 4 sequences share the window: 512 tokens each, room for the long prefill prompts.
      contextSize: 2048,
      sequences: 4,
      maxQueue: 64,
    });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it("frees every sequence, socket and listener when clients abort at random points", async () => {
    const figures = await runDisconnectStorm(gateway, { clients: 32, waves: 3, seed: 7, longPromptWords: 150, persona: "fixture" });
    console.log(formatFigures(figures));
    expect(figures.failureSamples).toEqual([]);
    expect(figures.leaks).toBe(0);
    expect(figures.byStatus.aborted ?? 0).toBeGreaterThan(48);
    expect(Object.keys(figures.byStatus).sort()).toEqual(["200", "aborted"]);
    expect(figures.notes.maxActiveSequences).toBeGreaterThan(0);
    expect(gateway.engine.stats()).toMatchObject({ activeSequences: 0, queueDepth: 0 });
  }, 300_000);
});
