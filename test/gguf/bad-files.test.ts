/** Malformed GGUF files end in a GgufError naming the file and the problem: never a crash, hang or huge allocation. */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GgufError } from "../../src/errors.js";
import { GgmlType, openGguf } from "../../src/gguf/index.js";
import { ggufValue, writeGguf } from "../../src/gguf/writer.js";
import { seededRandom } from "../../src/fixtures/random.js";

let dir: string;
let valid: Buffer;
/** One F32 tensor "w" [4], no metadata: header layout is known byte by byte. */
let single: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "prism-gguf-bad-"));
  const rng = seededRandom(3);
  await writeGguf(join(dir, "valid.gguf"), {
    metadata: [
      ["general.architecture", ggufValue.string("llama")],
      ["tokenizer.ggml.tokens", ggufValue.array("string", ["<unk>", "a", "b"])],
      ["tokenizer.ggml.scores", ggufValue.array("f32", [0, -1, -2])],
      ["x.nested", ggufValue.array("array", [{ itemType: "u8", items: [1, 2] }])],
    ],
    tensors: [
      { name: "f32", shape: [32, 2], type: GgmlType.F32, data: rng.normals(64, 1) },
      { name: "q8", shape: [64, 2], type: GgmlType.Q8_0, data: rng.normals(128, 1) },
      { name: "q41", shape: [32, 3], type: GgmlType.Q4_1, data: rng.normals(96, 1) },
      { name: "f16", shape: [16], type: GgmlType.F16, data: rng.normals(16, 1) },
    ],
  });
  valid = await readFile(join(dir, "valid.gguf"));
  await writeGguf(join(dir, "single.gguf"), { metadata: [], tensors: [{ name: "w", shape: [4], type: GgmlType.F32, data: Float32Array.from([1, 2, 3, 4]) }] });
  single = await readFile(join(dir, "single.gguf"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
/** Opens `bytes` as a GGUF and reads every tensor; resolves to the error (undefined when it all worked). */
async function openAndReadAll(bytes: Uint8Array): Promise<unknown> {
  const path = join(dir, `case-${counter++}.gguf`);
  await writeFile(path, bytes);
  try {
    const file = await openGguf(path);
    try {
      for (const t of file.tensors) await file.readTensor(t.name);
      return undefined;
    } finally {
      await file.close();
    }
  } catch (err) {
    return err;
  } finally {
    await rm(path, { force: true });
  }
}

async function expectGgufError(bytes: Uint8Array, reason: RegExp): Promise<void> {
  const err = await openAndReadAll(bytes);
  expect(err).toBeInstanceOf(GgufError);
  expect((err as GgufError).message).toMatch(/case-\d+\.gguf: /);
  expect((err as GgufError).reason).toMatch(reason);
}

function patched(base: Buffer, at: number, write: (b: Buffer) => void): Buffer {
  const b = Buffer.from(base);
  write(b.subarray(at));
  return b;
}

// single.gguf layout: magic 0, version 4, tensor count 8, kv count 16, name length 24, name 32, n_dims 33, ne 37, type 45, offset 49.
describe("bad GGUF files", () => {
  it("the valid files read cleanly", async () => {
    expect(await openAndReadAll(valid)).toBeUndefined();
    expect(await openAndReadAll(single)).toBeUndefined();
  });

  it("missing file, wrong magic, unsupported version", async () => {
    await expect(openGguf(join(dir, "missing.gguf"))).rejects.toThrow(/missing\.gguf: cannot open: ENOENT/);
    await expectGgufError(patched(single, 0, (b) => b.write("GGML")), /not a GGUF file/);
    await expectGgufError(patched(single, 4, (b) => b.writeUInt32LE(1)), /unsupported GGUF version 1/);
    await expectGgufError(patched(single, 4, (b) => b.writeUInt32LE(4)), /unsupported GGUF version 4/);
    await expectGgufError(Buffer.alloc(0), /truncated: magic/);
  });

  it("lying counts and lengths are refused before allocating", async () => {
    await expectGgufError(patched(single, 8, (b) => b.writeBigUInt64LE(2n ** 62n)), /tensor count .* more than/);
    await expectGgufError(patched(valid, 16, (b) => b.writeBigUInt64LE(2n ** 40n)), /metadata count .* more than/);
    await expectGgufError(patched(valid, 24, (b) => b.writeBigUInt64LE(2n ** 63n)), /length of key .* more than/);
    await expectGgufError(patched(single, 33, (b) => b.writeUInt32LE(9)), /has 9 dimensions/);
    await expectGgufError(patched(single, 37, (b) => b.writeBigUInt64LE(2n ** 50n)), /dimension 0 is/);
    await expectGgufError(patched(single, 37, (b) => b.writeBigUInt64LE(1024n)), /lying tensor info: 'w'/);
    await expectGgufError(patched(single, 49, (b) => b.writeBigUInt64LE(2n ** 60n)), /not aligned|lying tensor info/);
    await expectGgufError(patched(single, 49, (b) => b.writeBigUInt64LE(3n)), /not aligned to 32/);
    await expectGgufError(patched(single, 45, (b) => b.writeUInt32LE(77)), /unknown ggml type id 77/);
  });

  it("truncated data, NaN weights and unsupported types", async () => {
    await expectGgufError(single.subarray(0, single.length - 20), /lying tensor info/);
    await expectGgufError(patched(single, single.length - 32, (b) => b.writeFloatLE(Number.NaN, 4)), /row 0 contains NaN/);
    await expectGgufError(patched(single, single.length - 32, (b) => b.writeFloatLE(Number.POSITIVE_INFINITY)), /contains Infinity/);
    const q5 = join(dir, "q5.gguf");
    await writeGguf(q5, { metadata: [], tensors: [{ name: "q", shape: [32], type: GgmlType.Q5_0, raw: new Uint8Array(22) }] });
    await expectGgufError(await readFile(q5), /unsupported tensor type Q5_0/);
  });

  it("fuzz: any truncation is a GgufError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: valid.length - 1 }), async (length) => {
        const err = await openAndReadAll(valid.subarray(0, length));
        return err instanceof GgufError;
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it("fuzz: random byte mutations read fine or fail with GgufError", async () => {
    const mutation = fc.array(fc.tuple(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });
    await fc.assert(
      fc.asyncProperty(mutation, async (edits) => {
        const bytes = Buffer.from(valid);
        for (const [at, value] of edits) bytes[at] = value;
        const err = await openAndReadAll(bytes);
        return err === undefined || err instanceof GgufError;
      }),
      { numRuns: 400, seed: 9 },
    );
  });
});
