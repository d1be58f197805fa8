import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../src/errors.js";
import { loadJbb, parseJbbCsv } from "../../src/eval/data/jbb.js";
import { loadMmlu, parseMmluCsv } from "../../src/eval/data/mmlu.js";
import { loadMtBench, parseMtBench } from "../../src/eval/data/mtbench.js";
import { stratifiedSample } from "../../src/eval/sample.js";

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

const DATA = join(import.meta.dirname, "../../../shared/data");

describe("eval data loaders", () => {
  it("reads the shared MT-Bench, MMLU and JBB files in place", async () => {
    const mt = await loadMtBench(join(DATA, "mt_bench/questions.jsonl"));
    expect(mt).toHaveLength(80);
    expect(new Set(mt.map((q) => q.category)).size).toBe(8);
    expect(mt.every((q) => q.turns.length === 2)).toBe(true);

    const mmlu = await loadMmlu(join(DATA, "mmlu"));
    const bySubject = countBy(mmlu, (i) => i.subject);
    // Row counts from the data README: quoted multi-line fields must not split rows.
    expect(bySubject.get("high_school_biology")).toBe(310);
    expect(bySubject.get("college_computer_science")).toBe(100);
    expect(bySubject.get("elementary_mathematics")).toBe(378);
    expect(mmlu.every((i) => ["A", "B", "C", "D"].includes(i.answer) && i.choices.length === 4)).toBe(true);

    const harmful = await loadJbb(join(DATA, "jbb/harmful.csv"), "harmful");
    const benign = await loadJbb(join(DATA, "jbb/benign.csv"), "benign");
    expect(harmful).toHaveLength(100);
    expect(benign).toHaveLength(100);
    expect(harmful[0]?.goal).toMatch(/defamatory article/);
  });

  it("parses quoted multi-line MMLU fields and names the subject from the file", () => {
    const items = parseMmluCsv('"What is\n2+2?",3,4,5,6,b\nx,y,z,w,v,D\n', "/x/elementary_mathematics_test.csv");
    expect(items[0]).toMatchObject({ subject: "elementary_mathematics", question: "What is\n2+2?", answer: "B", row: 0 });
    expect(items[1]?.row).toBe(1);
  });

  it("rejects malformed files with the file and line in the message", async () => {
    expect(() => parseMtBench('{"question_id":1,"category":"x","turns":["a"]}\n{bad', "q.jsonl")).toThrow(/q\.jsonl:2/);
    expect(() => parseMtBench('{"question_id":1,"category":"x","turns":[]}', "q.jsonl")).toThrow(InvalidRequestError);
    expect(() => parseMmluCsv("q,a,b,c,d,E\n", "m_test.csv")).toThrow(/m_test\.csv: row 1/);
    expect(() => parseMmluCsv("q,a,b,c,d\n", "m_test.csv")).toThrow(InvalidRequestError);
    expect(() => parseJbbCsv("index,goal\n0,\n", "h.csv", "harmful")).toThrow(/h\.csv: row 1/);
    const dir = await mkdtemp(join(tmpdir(), "eval-data-"));
    await writeFile(join(dir, "empty.jsonl"), "\n");
    await expect(loadMtBench(join(dir, "empty.jsonl"))).rejects.toThrow(/no MT-Bench questions/);
  });
});

describe("stratifiedSample", () => {
  const items = Array.from({ length: 40 }, (_, i) => ({ id: i, cat: `c${i % 4}` }));

  it("covers every stratum round-robin and is deterministic per seed", () => {
    const a = stratifiedSample(items, (x) => x.cat, 8, 7);
    expect(a).toHaveLength(8);
    expect(countBy(a, (x) => x.cat)).toEqual(new Map([["c0", 2], ["c1", 2], ["c2", 2], ["c3", 2]]));
    expect(stratifiedSample(items, (x) => x.cat, 8, 7)).toEqual(a);
    expect(stratifiedSample(items, (x) => x.cat, 8, 8).map((x) => x.id)).not.toEqual(a.map((x) => x.id));
  });

  it("returns everything once without a limit and caps at the number of items", () => {
    const all = stratifiedSample(items, (x) => x.cat, undefined, 1);
    expect(new Set(all.map((x) => x.id)).size).toBe(40);
    expect(stratifiedSample(items, (x) => x.cat, 1000, 1)).toHaveLength(40);
  });
});
