/**
 * Dequantization and quantization checked against llama.cpp's gguf-py (numpy ports of ggml's code), on the
 * real SmolLM2 model (Q8_0 embedding, Q4_1 matrices, F32 norms) and on a synthetic file holding every type
 * we read (K-quant blocks filled with random bytes and finite scales).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GgmlType, ggmlTypeTraits, openGguf } from "../../src/gguf/index.js";
import { floatToHalf } from "../../src/gguf/half.js";
import { quantize } from "../../src/gguf/quantize.js";
import { writeGguf, type GgufTensorSpec } from "../../src/gguf/writer.js";
import { seededRandom } from "../../src/fixtures/random.js";
import { defaultModelPath } from "../helpers/paths.js";
import { PYTHON, pythonHas } from "../helpers/python.js";

const run = promisify(execFile);
const SCRIPT = resolve("test/gguf/llama_cpp_reference.py");
const available = await pythonHas(["numpy", "gguf"], "llama.cpp reference checks");

async function referenceRows(file: string, dir: string, specs: readonly [string, number, number][]): Promise<Map<string, Float32Array>> {
  await run(PYTHON, [SCRIPT, "dequant", file, dir, ...specs.map(([n, s, c]) => `${n}:${s}:${c}`)], { maxBuffer: 1 << 24 });
  const out = new Map<string, Float32Array>();
  for (const [name] of specs) {
    const buf = await readFile(join(dir, `${name}.f32`));
    out.set(name, new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4));
  }
  return out;
}

function maxRelativeError(ours: Float32Array, ref: Float32Array): number {
  expect(ours.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!) / Math.max(1e-3, Math.abs(ref[i]!)));
  return worst;
}

/** Random block bytes with a finite, moderate fp16 scale (and min) where each K-quant keeps them. */
function randomBlocks(type: number, rows: number, rowLength: number, seed: number): Uint8Array {
  const traits = ggmlTypeTraits(type)!;
  const blocks = (rows * rowLength) / traits.blockSize;
  const rng = seededRandom(seed);
  const bytes = new Uint8Array(blocks * traits.typeSize);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rng.next() * 256);
  const half = (pos: number) => {
    const h = floatToHalf((rng.next() - 0.3) * 0.02);
    bytes[pos] = h & 0xff;
    bytes[pos + 1] = h >> 8;
  };
  for (let b = 0; b < blocks; b++) {
    const at = b * traits.typeSize;
    if (type === GgmlType.Q6_K) half(at + 208);
    else {
      half(at);
      half(at + 2);
    }
  }
  return bytes;
}

describe.skipIf(!available)("dequantization matches llama.cpp (gguf-py)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "prism-gguf-ref-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("on the real SmolLM2-135M-Instruct (Q8_0, Q4_1, F32 tensors)", async () => {
    const file = await openGguf(defaultModelPath());
    try {
      const types = new Set(file.tensors.map((t) => t.typeName));
      expect([...types].sort()).toEqual(["F32", "Q4_1", "Q8_0"]);
      const specs: [string, number, number][] = [
        ["token_embd.weight", 1000, 3],
        ["blk.0.attn_q.weight", 0, 5],
        ["blk.29.ffn_down.weight", 570, 6],
        ["blk.7.attn_norm.weight", 0, 1],
        ["output_norm.weight", 0, 1],
      ];
      const ref = await referenceRows(file.path, dir, specs);
      for (const [name, start, count] of specs) {
        const ours = await file.readRows(name, start, count);
        expect(maxRelativeError(ours, ref.get(name)!), name).toBeLessThan(1e-5);
      }
    } finally {
      await file.close();
    }
  });

  it("for F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K and Q6_K", async () => {
    const rng = seededRandom(11);
    const values = rng.normals(4 * 512, 0.7);
    const encoded = (type: number): GgufTensorSpec => ({ name: `t_${ggmlTypeTraits(type)!.name}`, shape: [512, 4], type, data: values });
    const kquant = (type: number, seed: number): GgufTensorSpec => ({
      name: `t_${ggmlTypeTraits(type)!.name}`,
      shape: [512, 4],
      type,
      raw: randomBlocks(type, 4, 512, seed),
    });
    const tensors = [
      ...[GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1].map(encoded),
      kquant(GgmlType.Q4_K, 1),
      kquant(GgmlType.Q5_K, 2),
      kquant(GgmlType.Q6_K, 3),
    ];
    const path = join(dir, "all-types.gguf");
    await writeGguf(path, { metadata: [], tensors });
    const ref = await referenceRows(path, dir, tensors.map((t) => [t.name, 1, 3]));
    const file = await openGguf(path);
    try {
      for (const t of tensors) {
        const ours = await file.readRows(t.name, 1, 3);
        expect(maxRelativeError(ours, ref.get(t.name)!), t.name).toBeLessThan(1e-5);
        expect(ours.some((v) => v !== 0), t.name).toBe(true);
      }
    } finally {
      await file.close();
    }
  });

  it("quantizers produce ggml's bytes for Q8_0, Q4_0, Q4_1", async () => {
    const values = seededRandom(5).normals(32 * 64, 1.3);
    const input = join(dir, "values.f32");
    await writeFile(input, Buffer.from(values.buffer));
    for (const type of [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1]) {
      const name = ggmlTypeTraits(type)!.name;
      const out = join(dir, `${name}.bin`);
      await run(PYTHON, [SCRIPT, "quantize", name, input, out]);
      const theirs = new Uint8Array(await readFile(out));
      const ours = quantize(type, values)!;
      expect(ours.length, name).toBe(theirs.length);
      let differing = 0;
      for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) differing++;
      expect(differing, name).toBe(0);
    }
  });
});
