/**
 * Dense f32 matrix products used by the trainer, row-major, written into `out` (overwrite or accumulate).
 * Three layouts cover a linear layer's forward and backward without transposing anything at run time:
 *   nt:  out[M,N] (+)= A[M,K] · B[N,K]ᵀ   forward  y = x·Wᵀ  (W stored [out,in], as GGUF rows)
 *   nn:  out[M,N] (+)= A[M,K] · B[K,N]    backward dx = dy·W
 *   tn:  out[M,N] (+)= A[K,M]ᵀ · B[K,N]   LoRA weight grads dW = dyᵀ·x
 */
export interface MatmulKernels {
  readonly name: string;
  nt(a: Float32Array, b: Float32Array, out: Float32Array, m: number, n: number, k: number, accumulate: boolean): void;
  nn(a: Float32Array, b: Float32Array, out: Float32Array, m: number, n: number, k: number, accumulate: boolean): void;
  tn(a: Float32Array, b: Float32Array, out: Float32Array, m: number, n: number, k: number, accumulate: boolean): void;
  /** Declares `w` [rows, cols] frozen for the kernels' lifetime, so they may keep a packed copy. */
  pinFrozen?(w: Float32Array, rows: number, cols: number): void;
  /** Releases worker threads or memory, when the kernels hold any. */
  dispose?(): Promise<void>;
}

/** Portable JavaScript kernels: 4×4 register blocking for `nt`, row-axpy for `nn`/`tn` (contiguous inner loops). */
export const jsKernels: MatmulKernels = {
  name: "js",
  nt(a, b, out, m, n, k, accumulate) {
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
      let j = 0;
      for (; j + 2 <= n; j += 2) {
        const b0 = j * k, b1 = b0 + k;
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
        for (let p = 0; p < k; p++) {
          const w0 = b[b0 + p]!, w1 = b[b1 + p]!;
          const x0 = a[a0 + p]!, x1 = a[a1 + p]!, x2 = a[a2 + p]!, x3 = a[a3 + p]!;
          s00 += x0 * w0; s01 += x0 * w1;
          s10 += x1 * w0; s11 += x1 * w1;
          s20 += x2 * w0; s21 += x2 * w1;
          s30 += x3 * w0; s31 += x3 * w1;
        }
        const o = i * n + j;
        if (accumulate) {
          out[o] = out[o]! + s00; out[o + 1] = out[o + 1]! + s01;
          out[o + n] = out[o + n]! + s10; out[o + n + 1] = out[o + n + 1]! + s11;
          out[o + 2 * n] = out[o + 2 * n]! + s20; out[o + 2 * n + 1] = out[o + 2 * n + 1]! + s21;
          out[o + 3 * n] = out[o + 3 * n]! + s30; out[o + 3 * n + 1] = out[o + 3 * n + 1]! + s31;
        } else {
          out[o] = s00; out[o + 1] = s01;
          out[o + n] = s10; out[o + n + 1] = s11;
          out[o + 2 * n] = s20; out[o + 2 * n + 1] = s21;
          out[o + 3 * n] = s30; out[o + 3 * n + 1] = s31;
        }
      }
      for (; j < n; j++) for (let r = 0; r < 4; r++) ntDot(a, b, out, i + r, j, n, k, accumulate);
    }
    for (; i < m; i++) for (let j = 0; j < n; j++) ntDot(a, b, out, i, j, n, k, accumulate);
  },
  nn(a, b, out, m, n, k, accumulate) {
    for (let i = 0; i < m; i++) {
      const o = i * n;
      if (!accumulate) out.fill(0, o, o + n);
      for (let p = 0; p < k; p++) {
        const x = a[i * k + p]!;
        if (x === 0) continue;
        const bRow = p * n;
        for (let j = 0; j < n; j++) out[o + j] = out[o + j]! + x * b[bRow + j]!;
      }
    }
  },
  tn(a, b, out, m, n, k, accumulate) {
    if (!accumulate) out.fill(0, 0, m * n);
    for (let p = 0; p < k; p++) {
      const aRow = p * m, bRow = p * n;
      for (let i = 0; i < m; i++) {
        const x = a[aRow + i]!;
        if (x === 0) continue;
        const o = i * n;
        for (let j = 0; j < n; j++) out[o + j] = out[o + j]! + x * b[bRow + j]!;
      }
    }
  },
};

function ntDot(a: Float32Array, b: Float32Array, out: Float32Array, i: number, j: number, n: number, k: number, accumulate: boolean): void {
  let s = 0;
  const ao = i * k, bo = j * k;
  for (let p = 0; p < k; p++) s += a[ao + p]! * b[bo + p]!;
  out[i * n + j] = accumulate ? out[i * n + j]! + s : s;
}
