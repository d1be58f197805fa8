import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GgufError } from "../../src/errors.js";
import { GgmlType, fingerprintGguf, ggmlTypeTraits, openGguf, type GgufValue } from "../../src/gguf/index.js";
import { quantizationErrorBound, quantize } from "../../src/gguf/quantize.js";
import { dequantize } from "../../src/gguf/dequantize.js";
import { ggufValue, writeGguf } from "../../src/gguf/writer.js";
import { seededRandom } from "../../src/fixtures/random.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "prism-gguf-rt-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const METADATA: [string, GgufValue][] = [
  ["general.architecture", ggufValue.string("llama")],
  ["t.u8", { type: "u8", value: 255 }],
  ["t.i8", { type: "i8", value: -128 }],
  ["t.u16", { type: "u16", value: 65535 }],
  ["t.i16", { type: "i16", value: -32768 }],
  ["t.u32", ggufValue.u32(4294967295)],
  ["t.i32", ggufValue.i32(-2147483648)],
  ["t.f32", ggufValue.f32(0.5)],
  ["t.f64", { type: "f64", value: Math.PI }],
  ["t.bool", ggufValue.bool(true)],
  ["t.string", ggufValue.string("héllo ▁ world")],
  ["t.u64", ggufValue.u64(2n ** 63n + 5n)],
  ["t.i64", { type: "i64", value: -(2n ** 62n) }],
  ["t.strings", ggufValue.array("string", ["a", "", "ü"])],
  ["t.nested", ggufValue.array("array", [{ itemType: "i32", items: [1, -2] }, { itemType: "string", items: ["x"] }])],
  ["t.empty", ggufValue.array("f32", [])],
];

describe("writer -> reader round trip", () => {
  it("keeps every metadata type, nested arrays and tensor values", async () => {
    const path = join(dir, "rt.gguf");
    const values = seededRandom(1).normals(64 * 3, 1);
    await writeGguf(path, {
      metadata: METADATA,
      tensors: [
        { name: "a", shape: [64, 3], type: GgmlType.F32, data: values },
        { name: "b", shape: [7], type: GgmlType.F32, data: () => Float32Array.from([1, 2, 3, 4, 5, 6, 7]) },
        { name: "c", shape: [32, 2, 3], type: GgmlType.Q8_0, data: values },
      ],
    });
    const file = await openGguf(path);
    try {
      expect(file.version).toBe(3);
      expect([...file.metadata]).toEqual(METADATA);
      expect(() => file.metadata.number("t.u64")).toThrow(/not exactly representable/);
      expect(file.metadata.number("t.u32")).toBe(4294967295);
      expect(file.metadata.string("general.architecture")).toBe("llama");
      expect(file.metadata.stringArray("t.strings")).toEqual(["a", "", "ü"]);
      expect(() => file.metadata.string("t.u8")).toThrow(/has type u8, expected string/);
      expect(file.tensors.map((t) => [t.name, t.typeName, t.shape, t.rowCount])).toEqual([
        ["a", "F32", [64, 3], 3],
        ["b", "F32", [7], 1],
        ["c", "Q8_0", [32, 2, 3], 6],
      ]);
      for (const t of file.tensors) expect(t.byteOffset % 32).toBe(0);
      expect(await file.readTensor("a")).toEqual(values);
      expect(await file.readRows("a", 1, 2)).toEqual(values.subarray(64, 192));
      expect(Array.from(await file.readTensor("b"))).toEqual([1, 2, 3, 4, 5, 6, 7]);
      const c = await file.readTensor("c");
      for (let i = 0; i < c.length; i++) expect(Math.abs(c[i]! - values[i]!)).toBeLessThan(0.05);
      await expect(file.readRows("a", 2, 2)).rejects.toThrow(/out of range/);
      expect(() => file.tensor("nope")).toThrow(/no tensor named 'nope'/);
    } finally {
      await file.close();
    }
    await expect(file.readTensor("a")).rejects.toThrow(/after close/);
  });

  it("honours a custom alignment and leaves no temp files", async () => {
    const path = join(dir, "aligned.gguf");
    await writeGguf(path, {
      metadata: [],
      alignment: 64,
      tensors: [
        { name: "x", shape: [3], type: GgmlType.F32, data: Float32Array.from([1, 2, 3]) },
        { name: "y", shape: [5], type: GgmlType.F16, data: Float32Array.from([1, 2, 3, 4, 0.5]) },
      ],
    });
    const file = await openGguf(path);
    expect(file.alignment).toBe(64);
    expect(file.tensors.every((t) => t.byteOffset % 64 === 0)).toBe(true);
    expect(Array.from(await file.readTensor("y"))).toEqual([1, 2, 3, 4, 0.5]);
    await file.close();
    expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("refuses bad specs with GgufError and leaves nothing behind", async () => {
    const path = join(dir, "bad.gguf");
    const cases: [string, Parameters<typeof writeGguf>[1]][] = [
      ["not a multiple", { metadata: [], tensors: [{ name: "q", shape: [31], type: GgmlType.Q8_0, data: new Float32Array(31) }] }],
      ["values for shape", { metadata: [], tensors: [{ name: "q", shape: [4], type: GgmlType.F32, data: new Float32Array(3) }] }],
      ["is NaN", { metadata: [], tensors: [{ name: "q", shape: [2], type: GgmlType.F32, data: Float32Array.from([1, Number.NaN]) }] }],
      ["not supported", { metadata: [], tensors: [{ name: "q", shape: [256], type: GgmlType.Q4_K, data: new Float32Array(256) }] }],
      ["duplicate tensor", { metadata: [], tensors: [1, 2].map(() => ({ name: "q", shape: [1], type: GgmlType.F32, data: new Float32Array(1) })) }],
      ["longer than", { metadata: [], tensors: [{ name: "n".repeat(64), shape: [1], type: GgmlType.F32, data: new Float32Array(1) }] }],
      ["not a valid u8", { metadata: [["k", { type: "u8", value: 1.5 }]], tensors: [] }],
    ];
    for (const [message, spec] of cases) {
      const err = await writeGguf(path, spec).then(() => undefined, (e: unknown) => e);
      expect(err, message).toBeInstanceOf(GgufError);
      expect((err as GgufError).message).toContain(path);
      expect((err as GgufError).message).toContain(message);
    }
    expect((await readdir(dir)).filter((f) => f.startsWith(".bad.gguf") || f === "bad.gguf")).toEqual([]);
  });

  it("fingerprints are stable and tell different weights apart", async () => {
    const write = async (name: string, seed: number) => {
      const path = join(dir, name);
      await writeGguf(path, { metadata: [["general.name", ggufValue.string("m")]], tensors: [{ name: "w", shape: [32, 4], type: GgmlType.F16, data: seededRandom(seed).normals(128, 1) }] });
      return fingerprintGguf(path);
    };
    const a = await write("fa.gguf", 1);
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await write("fb.gguf", 1)).toBe(a);
    expect(await write("fc.gguf", 2)).not.toBe(a);
  });
});

describe("quantize -> dequantize error bounds", () => {
  for (const type of [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.F16, GgmlType.BF16]) {
    const name = ggmlTypeTraits(type)!.name;
    it(`${name}: every value within the block's bound`, () => {
      const block = fc.float32Array({ minLength: 32, maxLength: 32, noNaN: true, noDefaultInfinity: true, min: -1000, max: 1000 });
      fc.assert(
        fc.property(block, (values) => {
          const out = new Float32Array(32);
          dequantize(type, quantize(type, values)!, out);
          const bound = quantizationErrorBound(type, values);
          for (let i = 0; i < 32; i++) if (!(Math.abs(out[i]! - values[i]!) <= bound)) return false;
          return true;
        }),
        { numRuns: 300, seed: 1 },
      );
    });
  }
});
