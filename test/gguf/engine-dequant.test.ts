/**
 * Dequantization checked against the engine itself: a one-layer llama whose attention and FFN weights are
 * all zero passes each token's embedding row straight to the final RMS norm, so the engine's embedding of a
 * text is rmsnorm(token_embd[last token]). We compare that with our own dequantized row for every type.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GgmlType, ggmlTypeTraits, openGguf } from "../../src/gguf/index.js";
import { floatToHalf } from "../../src/gguf/half.js";
import { llamaModelGguf } from "../../src/gguf/llama.js";
import { buildSpmVocab } from "../../src/gguf/spm-vocab.js";
import { writeGguf, type GgufTensorSpec } from "../../src/gguf/writer.js";
import { seededRandom } from "../../src/fixtures/random.js";
import { getTestLlama, TEST_THREADS } from "../helpers/llama.js";

const N_EMBD = 256; // K-quants need rows of 256
const RMS_EPS = 1e-5;

let llama: Llama;
let dir: string;
beforeAll(async () => {
  llama = await getTestLlama();
  dir = await mkdtemp(join(tmpdir(), "prism-engine-dequant-"));
});
afterAll(async () => {
  await llama.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** K-quant rows from random bytes with a finite scale (we have no K-quant encoder; the bytes are the truth). */
function randomKQuantRows(type: number, rows: number, seed: number): Uint8Array {
  const traits = ggmlTypeTraits(type)!;
  const rng = seededRandom(seed);
  const bytes = Uint8Array.from({ length: ((rows * N_EMBD) / traits.blockSize) * traits.typeSize }, () => Math.floor(rng.next() * 256));
  for (let at = 0; at < bytes.length; at += traits.typeSize) {
    for (const pos of type === GgmlType.Q6_K ? [at + 208] : [at, at + 2]) {
      const h = floatToHalf(0.005 + rng.next() * 0.02);
      bytes[pos] = h & 0xff;
      bytes[pos + 1] = h >> 8;
    }
  }
  return bytes;
}

function rmsNorm(x: Float32Array): Float32Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const scale = 1 / Math.sqrt(ss / x.length + RMS_EPS);
  return x.map((v) => v * scale);
}

const TYPES = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];

describe("engine embeddings equal rmsnorm(our dequantized token_embd row)", () => {
  for (const type of TYPES) {
    const name = ggmlTypeTraits(type)!.name;
    it(name, async () => {
      const vocab = buildSpmVocab(["hello", "world", " hello", " world", ..."abcdefghijklmnopqrstuvwxyz"]);
      const nVocab = vocab.tokens.length;
      const spec = llamaModelGguf({
        name: `dequant-probe-${name}`,
        hyperparams: { nEmbd: N_EMBD, nLayer: 1, nHead: 4, nHeadKv: 4, nFf: 256, contextLength: 64, rmsEps: RMS_EPS },
        vocab,
        weights: (t) => new Float32Array(t.shape.reduce((a, b) => a * b, 1)).fill(t.isNorm ? 1 : 0),
      });
      const isK = type === GgmlType.Q4_K || type === GgmlType.Q5_K || type === GgmlType.Q6_K;
      const embd: GgufTensorSpec = isK
        ? { name: "token_embd.weight", shape: [N_EMBD, nVocab], type, raw: randomKQuantRows(type, nVocab, type) }
        : { name: "token_embd.weight", shape: [N_EMBD, nVocab], type, data: seededRandom(type + 100).normals(N_EMBD * nVocab, 0.5) };
      const path = join(dir, `${name}.gguf`);
      await writeGguf(path, { ...spec, tensors: spec.tensors.map((t) => (t.name === "token_embd.weight" ? embd : t)) });

      const model = await llama.loadModel({ modelPath: path });
      const context = await model.createEmbeddingContext({ contextSize: 64, threads: TEST_THREADS });
      const text = "hello world";
      const tokens = model.tokenize(text);
      const engine = (await context.getEmbeddingFor(text)).vector;
      await context.dispose();
      await model.dispose();

      const file = await openGguf(path);
      const row = await file.readRows("token_embd.weight", tokens.at(-1)!, 1);
      await file.close();
      const expected = rmsNorm(row);
      expect(engine.length).toBe(N_EMBD);
      let worst = 0;
      for (let i = 0; i < N_EMBD; i++) worst = Math.max(worst, Math.abs(engine[i]! - expected[i]!));
      expect(worst, `${name}: max |engine - ours|`).toBeLessThan(1e-3);
      expect(expected.some((v) => Math.abs(v) > 0.1)).toBe(true);
    });
  }
});
