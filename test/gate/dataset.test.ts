import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { readIntentSamples, sampleHalf } from "../../src/gate/dataset.js";

const DEV = resolve("../shared/data/intents/dev.jsonl");

describe("sampleHalf (fixed tune/check split of a labelled set)", () => {
  it("is a pure function of the prompt: SHA-256's first byte, low bit", () => {
    for (const prompt of ["Write a poem about rain.", "Which gas do plants absorb?", "x"]) {
      const expected = createHash("sha256").update(prompt).digest()[0]! % 2 === 1 ? "check" : "tune";
      expect(sampleHalf({ prompt })).toBe(expected);
      expect(sampleHalf({ prompt })).toBe(sampleHalf({ prompt: `${prompt}` }));
    }
  });

  it("splits many prompts about evenly", () => {
    const prompts = Array.from({ length: 2000 }, (_, i) => ({ prompt: `prompt number ${i}` }));
    const tune = prompts.filter((p) => sampleHalf(p) === "tune").length;
    expect(tune).toBeGreaterThan(900);
    expect(tune).toBeLessThan(1100);
  });

  it.skipIf(!existsSync(DEV))("the dev set's halves as reported in docs/bootstrap.md (322 tune / 358 check)", async () => {
    const dev = await readIntentSamples(DEV);
    const tune = dev.filter((s) => sampleHalf(s) === "tune");
    expect([tune.length, dev.length - tune.length]).toEqual([322, 358]);
  });
});
