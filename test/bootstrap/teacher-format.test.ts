import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeTeacherFile, encodeTeacherFile, readTeacherFile, writeTeacherFile, type TeacherRecord } from "../../src/bootstrap/teacher-format.js";
import { BootstrapError } from "../../src/errors.js";

function record(id: string, n: number, k: number, seed: number): TeacherRecord {
  return {
    id,
    responseTokens: Uint32Array.from({ length: n }, (_, i) => (i * 7 + seed) % 49152),
    topIds: Uint32Array.from({ length: n * k }, (_, i) => (i * 13 + seed) % 49152),
    topLogits: Float32Array.from({ length: n * k }, (_, i) => Math.sin(i + seed) * 30),
  };
}

describe("teacher top-k file", () => {
  it("round-trips f32 exactly and f16 within half precision", async () => {
    const dir = await mkdtemp(join(tmpdir(), "teacher-"));
    const records = [record("writing/0001", 5, 4, 1), record("stem/0002 é", 0, 4, 2), record("x", 3, 4, 3)];
    await writeTeacherFile(join(dir, "t32.prtk"), { topK: 4, logitType: "f32", records });
    const back32 = await readTeacherFile(join(dir, "t32.prtk"));
    expect(back32.records.map((r) => r.id)).toEqual(records.map((r) => r.id));
    expect(Array.from(back32.records[0]!.topLogits)).toEqual(Array.from(records[0]!.topLogits));
    expect(Array.from(back32.records[2]!.topIds)).toEqual(Array.from(records[2]!.topIds));

    await writeTeacherFile(join(dir, "t16.prtk"), { topK: 4, logitType: "f16", records });
    const back16 = await readTeacherFile(join(dir, "t16.prtk"));
    const size16 = (await readFile(join(dir, "t16.prtk"))).length;
    const size32 = (await readFile(join(dir, "t32.prtk"))).length;
    expect(size16).toBeLessThan(size32);
    back16.records[0]!.topLogits.forEach((v, i) => expect(Math.abs(v - records[0]!.topLogits[i]!)).toBeLessThanOrEqual(0.02));
    expect(Array.from(back16.records[0]!.responseTokens)).toEqual(Array.from(records[0]!.responseTokens));
  });

  it("refuses bad magic, versions, truncation and trailing bytes with a typed error", async () => {
    const good = encodeTeacherFile({ topK: 2, logitType: "f16", records: [record("a", 3, 2, 0)] });
    const bad = (mutate: (b: Uint8Array) => Uint8Array) => () => decodeTeacherFile(mutate(Uint8Array.from(good)));
    expect(bad((b) => ((b[0] = 0x58), b))).toThrow(/bad magic/);
    expect(bad((b) => ((b[4] = 9), b))).toThrow(/unsupported version/);
    expect(bad((b) => b.subarray(0, b.length - 3))).toThrow(/truncated/);
    expect(bad((b) => Uint8Array.from([...b, 0, 0, 0, 0]))).toThrow(/trailing bytes/);
    expect(bad((b) => b.subarray(0, 10))).toThrow(BootstrapError);
    const dir = await mkdtemp(join(tmpdir(), "teacher-"));
    await writeFile(join(dir, "empty.prtk"), "");
    await expect(readTeacherFile(join(dir, "empty.prtk"))).rejects.toThrow(/empty.prtk: shorter than/);
  });

  it("never crashes on mutated or truncated files (fuzz)", () => {
    const good = encodeTeacherFile({ topK: 3, logitType: "f32", records: [record("a", 4, 3, 0), record("b", 2, 3, 1)] });
    fc.assert(
      fc.property(fc.nat(good.length), fc.nat(good.length - 1), fc.nat(255), (cut, at, byte) => {
        const b = Uint8Array.from(good.subarray(0, Math.max(cut, 1)));
        if (at < b.length) b[at] = byte;
        try {
          decodeTeacherFile(b);
        } catch (err) {
          expect(err).toBeInstanceOf(BootstrapError);
        }
      }),
      { numRuns: 300, seed: 5 },
    );
  });
});
