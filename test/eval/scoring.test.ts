import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AnswerCache, cacheKey } from "../../src/eval/answer-cache.js";
import { parseRating, parseYesNo } from "../../src/eval/judge.js";
import { personaForCategory, personaForSubject } from "../../src/eval/personas.js";
import { bootstrapMean, wilson } from "../../src/eval/stats.js";
import { pickLetter } from "../../src/eval/tasks/mmlu.js";

describe("judge verdict parsing", () => {
  it("reads [[rating]] first, then looser forms, only within 1–10", () => {
    expect(parseRating("Rating: [[7]] because")).toBe(7);
    expect(parseRating("blah [[ 8.5 ]]")).toBe(8.5);
    expect(parseRating("Rating: 6/10")).toBe(6);
    expect(parseRating("9 - great")).toBe(9);
    expect(parseRating("[[11]]")).toBeNull();
    expect(parseRating("I think it is fine")).toBeNull();
  });

  it("prefers first-token logprobs for Yes/No and falls back to text", () => {
    const alts = [
      { token: "No", logprob: -0.2 },
      { token: " Yes", logprob: -1.9 },
    ];
    expect(parseYesNo("Yes", alts)).toEqual({ yes: false, method: "logprob" });
    expect(parseYesNo("Well, yes it does", [{ token: "Well", logprob: -0.1 }])).toEqual({ yes: true, method: "text" });
    expect(parseYesNo("Maybe", null)).toEqual({ yes: null, method: "none" });
  });

  it("picks the most likely answer letter from the first token's alternatives", () => {
    const alts = [
      { token: " B", logprob: -0.5 },
      { token: "A", logprob: -1.5 },
      { token: "C.", logprob: -0.1 },
      { token: "The", logprob: -0.01 },
    ];
    expect(pickLetter("The answer", alts)).toMatchObject({ predicted: "C", method: "logprob" });
    expect(pickLetter("I pick D here", null)).toMatchObject({ predicted: "D", method: "text", logprobs: null });
    expect(pickLetter("no idea", [])).toMatchObject({ predicted: null, method: "none" });
  });
});

describe("intervals", () => {
  it("bootstrap mean is seeded, brackets the mean, and degenerates sensibly", () => {
    const values = [3, 5, 7, 4, 6, 8, 2, 5];
    const a = bootstrapMean(values, 1);
    expect(a).toEqual(bootstrapMean(values, 1));
    expect(a.value).toBe(5);
    expect(a.low as number).toBeLessThan(5);
    expect(a.high as number).toBeGreaterThan(5);
    expect(bootstrapMean([], 1)).toEqual({ n: 0, value: null, low: null, high: null });
    expect(bootstrapMean([4], 1)).toEqual({ n: 1, value: 4, low: 4, high: 4 });
  });

  it("Wilson interval stays in [0,1] at the extremes and narrows with n", () => {
    const zero = wilson(0, 5);
    expect(zero.value).toBe(0);
    expect(zero.low).toBe(0);
    expect(zero.high as number).toBeGreaterThan(0.3);
    const all = wilson(5, 5);
    expect(all.high).toBe(1);
    const w10 = wilson(5, 10);
    const w1000 = wilson(500, 1000);
    expect((w1000.high as number) - (w1000.low as number)).toBeLessThan((w10.high as number) - (w10.low as number));
  });
});

describe("personas", () => {
  it("maps categories and subjects to the matching expert", () => {
    expect(personaForCategory("coding")).toBe("coding");
    expect(personaForCategory("unknown")).toBe("humanities");
    expect(personaForSubject("elementary_mathematics")).toBe("math");
    expect(personaForSubject("college_computer_science")).toBe("coding");
    expect(personaForSubject("high_school_statistics")).toBe("math");
    expect(personaForSubject("anatomy")).toBe("stem");
  });
});

describe("AnswerCache", () => {
  it("persists across opens and survives a torn last line", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "eval-cache-")), "cache.jsonl");
    const first = await AnswerCache.open(file);
    let calls = 0;
    const compute = async () => ({ text: `answer ${++calls}` });
    expect(await first.through(cacheKey({ a: 1 }), compute)).toEqual({ value: { text: "answer 1" }, cached: false });
    expect(await first.through(cacheKey({ a: 1 }), compute)).toEqual({ value: { text: "answer 1" }, cached: true });
    // Simulate a crash mid-append.
    await writeFile(file, (await readFile(file, "utf8")) + '{"key":"torn","val', "utf8");

    const second = await AnswerCache.open(file);
    expect(second.size).toBe(1);
    expect(second.skippedLines).toBe(1);
    await second.put(cacheKey({ a: 2 }), { text: "b" });
    const third = await AnswerCache.open(file);
    expect(third.size).toBe(2);
    expect(third.get(cacheKey({ a: 2 }))).toEqual({ text: "b" });
    expect(calls).toBe(1);
  });
});
