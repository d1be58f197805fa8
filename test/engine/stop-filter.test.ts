import { describe, expect, it } from "vitest";
import { StopSequenceFilter } from "../../src/engine/stop-filter.js";

describe("StopSequenceFilter", () => {
  it("holds back a partial stop string and cuts at the full one", () => {
    const filter = new StopSequenceFilter(["END"]);
    expect(filter.push("hello E")).toBe("hello ");
    expect(filter.push("N")).toBe("");
    expect(filter.push("D and more")).toBe("");
    expect(filter.stopped).toBe(true);
    expect(filter.flush()).toBe("");
  });

  it("releases held text when the stop string does not complete", () => {
    const filter = new StopSequenceFilter(["END"]);
    expect(filter.push("ab EN")).toBe("ab ");
    expect(filter.push("x")).toBe("ENx");
    expect(filter.flush()).toBe("");
    expect(filter.stopped).toBe(false);
  });

  it("cuts at the earliest of several stops and flushes the tail at the end", () => {
    const filter = new StopSequenceFilter(["\n\n", "###"]);
    expect(filter.push("a##")).toBe("a");
    expect(filter.flush()).toBe("##");
    const other = new StopSequenceFilter(["\n\n", "###"]);
    expect(other.push("x###y\n\nz")).toBe("x");
  });
});
