import { describe, expect, it } from "vitest";
import { commonPrefixWords, geometricMean } from "../../bench/lib/stats.js";

describe("commonPrefixWords (engine bench greedy parity)", () => {
  it("counts every word of equal texts", () => {
    expect(commonPrefixWords("Glaciers are massive bodies", "Glaciers are massive bodies")).toBe(4);
  });

  it("drops the word the texts diverge in", () => {
    expect(commonPrefixWords("snow is melted and the water", "snow is melted and turns into")).toBe(4);
    expect(commonPrefixWords("snow is melting", "snow is melted")).toBe(2);
  });

  it("keeps a last word that ends in both texts", () => {
    expect(commonPrefixWords("snow is", "snow is melted")).toBe(2);
    expect(commonPrefixWords("snow is melted", "snow is")).toBe(2);
    expect(commonPrefixWords("snow is", "snow isn't")).toBe(1);
  });

  it("is zero when the first word differs", () => {
    expect(commonPrefixWords("Rivers", "Glaciers")).toBe(0);
    expect(commonPrefixWords("", "Glaciers")).toBe(0);
  });
});

describe("geometricMean (paired per-round ratios)", () => {
  it("averages ratios so that x and 1/x cancel", () => {
    expect(geometricMean([2, 0.5])).toBeCloseTo(1, 12);
    expect(geometricMean([1.1, 1.1, 1.1])).toBeCloseTo(1.1, 12);
    expect(geometricMean([])).toBeNaN();
  });
});
