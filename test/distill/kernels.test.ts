import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsKernels } from "../../src/distill/kernels/matmul.js";
import { WasmKernels } from "../../src/distill/kernels/wasm.js";
import { mulberry32 } from "../../src/random.js";

const rng = mulberry32(42);
const rand = (n: number) => Float32Array.from({ length: n }, () => rng() * 2 - 1);

/** Plain triple loop in f64: the reference both kernel sets are checked against. */
function reference(kind: "nt" | "nn" | "tn", a: Float32Array, b: Float32Array, m: number, n: number, k: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = kind === "tn" ? a[p * m + i]! : a[i * k + p]!;
        const bv = kind === "nt" ? b[j * k + p]! : b[p * n + j]!;
        s += av * bv;
      }
      out[i * n + j] = s;
    }
  return out;
}

let single: WasmKernels;
let threaded: WasmKernels;
beforeAll(async () => {
  single = await WasmKernels.create(1);
  threaded = await WasmKernels.create(2);
});
afterAll(async () => {
  await single.dispose();
  await threaded.dispose();
});

describe("matmul kernels", () => {
  const shapes: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [7, 16, 64], [33, 130, 67], [64, 192, 576], [5, 256, 1536]];
  for (const kind of ["nt", "nn", "tn"] as const) {
    it(`${kind}: js, wasm and threaded wasm agree with an f64 reference (odd sizes, overwrite and accumulate)`, () => {
      for (const [m, n, k] of shapes) {
        const a = rand(m * k);
        const b = rand(n * k);
        const ref = reference(kind, a, b, m, n, k);
        for (const kernels of [jsKernels, single, threaded]) {
          const prior = rand(m * n);
          const over = new Float32Array(m * n);
          kernels[kind](a, b, over, m, n, k, false);
          const acc = Float32Array.from(prior);
          kernels[kind](a, b, acc, m, n, k, true);
          let errOver = 0, errAcc = 0;
          for (let i = 0; i < m * n; i++) {
            errOver = Math.max(errOver, Math.abs(over[i]! - ref[i]!));
            errAcc = Math.max(errAcc, Math.abs(acc[i]! - prior[i]! - ref[i]!));
          }
          const tol = 1e-4 * Math.sqrt(k) + 1e-5;
          expect(errOver, `${kernels.name} ${kind} ${m}x${n}x${k} overwrite`).toBeLessThan(tol);
          expect(errAcc, `${kernels.name} ${kind} ${m}x${n}x${k} accumulate`).toBeLessThan(tol);
        }
      }
    });
  }

  it("pinned frozen weights give the same products in both layouts", () => {
    const [m, n, k] = [9, 192, 576];
    const w = rand(n * k);
    const x = rand(m * k);
    const dy = rand(m * n);
    threaded.pinFrozen(w, n, k);
    const fwd = new Float32Array(m * n), fwdRef = new Float32Array(m * n);
    threaded.nt(x, w, fwd, m, n, k, false);
    jsKernels.nt(x, w, fwdRef, m, n, k, false);
    const bwd = new Float32Array(m * k), bwdRef = new Float32Array(m * k);
    threaded.nn(dy, w, bwd, m, k, n, false);
    jsKernels.nn(dy, w, bwdRef, m, k, n, false);
    for (let i = 0; i < fwd.length; i++) expect(fwd[i]!).toBeCloseTo(fwdRef[i]!, 3);
    for (let i = 0; i < bwd.length; i++) expect(bwd[i]!).toBeCloseTo(bwdRef[i]!, 3);
  });

  it("dy·W over a pinned transpose with a vocabulary-long k runs in k-blocks and matches the f64 reference", () => {
    // k = 9216 ≥ the k-blocking threshold: 9 blocks of 1024, accumulated in place, with and without a prior
    const [m, n, k] = [5, 12, 9216];
    const w = rand(k * n); // [k, n]: the head's W [vocab, dim] in dy·W
    const dy = rand(m * k);
    const ref = reference("nn", dy, w, m, n, k);
    for (const kernels of [single, threaded]) {
      kernels.pinFrozen(w, k, n);
      const prior = rand(m * n);
      const over = new Float32Array(m * n);
      kernels.nn(dy, w, over, m, n, k, false);
      const acc = Float32Array.from(prior);
      kernels.nn(dy, w, acc, m, n, k, true);
      const tol = 1e-4 * Math.sqrt(k);
      for (let i = 0; i < m * n; i++) {
        expect(Math.abs(over[i]! - ref[i]!), `${kernels.name} overwrite [${i}]`).toBeLessThan(tol);
        expect(Math.abs(acc[i]! - prior[i]! - ref[i]!), `${kernels.name} accumulate [${i}]`).toBeLessThan(tol);
      }
    }
  });
});
