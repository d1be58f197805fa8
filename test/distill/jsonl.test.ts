import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parseJsonlRows } from "../../src/distill/train/jsonl.js";
import { DistillError } from "../../src/errors.js";

const rowSchema = z.object({ id: z.string().min(1), query: z.string() });

describe("parseJsonlRows", () => {
  it("parses one row per non-blank line and drops fields the schema does not name", () => {
    const bytes = Buffer.from('{"id":"a","query":"q1","reason":"x"}\n\n  \n{"id":"b","query":"q2"}\n');
    expect(parseJsonlRows(bytes, "rows.jsonl", rowSchema)).toEqual([
      { id: "a", query: "q1" },
      { id: "b", query: "q2" },
    ]);
  });

  it("names the file and line of a line that is not JSON", () => {
    const bytes = Buffer.from('{"id":"a","query":"q"}\n{"id":\n');
    expect(() => parseJsonlRows(bytes, "rows.jsonl", rowSchema)).toThrow(new DistillError("rows.jsonl:2: not valid JSON"));
  });

  it("names the file and line of a row the schema refuses", () => {
    const bytes = Buffer.from('\n{"id":"","query":"q"}\n');
    expect(() => parseJsonlRows(bytes, "rows.jsonl", rowSchema)).toThrow(DistillError);
    expect(() => parseJsonlRows(bytes, "rows.jsonl", rowSchema)).toThrow(/^rows\.jsonl:2: /);
  });
});
