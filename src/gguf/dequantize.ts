/**
 * Dequantization of ggml blocks to float32, ported from ggml-quants.c (`dequantize_row_*`). Each function
 * converts `out.length` elements (a whole number of blocks) from `src`, which starts at a block boundary.
 */
import { bf16ToFloat, halfTableView } from "./half.js";
import { GgmlType, ggmlTypeTraits } from "./types.js";

type Dequantizer = (src: Uint8Array, out: Float32Array) => void;

function view(src: Uint8Array): DataView {
  return new DataView(src.buffer, src.byteOffset, src.byteLength);
}

const dequantF32: Dequantizer = (src, out) => {
  const dv = view(src);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
};

const dequantF16: Dequantizer = (src, out) => {
  const table = halfTableView();
  for (let i = 0; i < out.length; i++) out[i] = table[src[2 * i]! | (src[2 * i + 1]! << 8)]!;
};

const dequantBF16: Dequantizer = (src, out) => {
  for (let i = 0; i < out.length; i++) out[i] = bf16ToFloat(src[2 * i]! | (src[2 * i + 1]! << 8));
};

function f16At(src: Uint8Array, pos: number, table: Float32Array): number {
  return table[src[pos]! | (src[pos + 1]! << 8)]!;
}

const dequantQ8_0: Dequantizer = (src, out) => {
  const table = halfTableView();
  for (let b = 0, o = 0; o < out.length; b += 34, o += 32) {
    const d = f16At(src, b, table);
    for (let j = 0; j < 32; j++) out[o + j] = d * ((src[b + 2 + j]! << 24) >> 24);
  }
};

const dequantQ4_0: Dequantizer = (src, out) => {
  const table = halfTableView();
  for (let b = 0, o = 0; o < out.length; b += 18, o += 32) {
    const d = f16At(src, b, table);
    for (let j = 0; j < 16; j++) {
      const q = src[b + 2 + j]!;
      out[o + j] = ((q & 0x0f) - 8) * d;
      out[o + j + 16] = ((q >> 4) - 8) * d;
    }
  }
};

const dequantQ4_1: Dequantizer = (src, out) => {
  const table = halfTableView();
  for (let b = 0, o = 0; o < out.length; b += 20, o += 32) {
    const d = f16At(src, b, table);
    const m = f16At(src, b + 2, table);
    for (let j = 0; j < 16; j++) {
      const q = src[b + 4 + j]!;
      out[o + j] = (q & 0x0f) * d + m;
      out[o + j + 16] = (q >> 4) * d + m;
    }
  }
};

/** ggml's get_scale_min_k4: 6-bit scale and min number `j` (0..7) from the 12 packed bytes at `s`. */
function scaleMinK4(j: number, src: Uint8Array, s: number): [number, number] {
  if (j < 4) return [src[s + j]! & 63, src[s + j + 4]! & 63];
  return [
    (src[s + j + 4]! & 0x0f) | ((src[s + j - 4]! >> 6) << 4),
    (src[s + j + 4]! >> 4) | ((src[s + j]! >> 6) << 4),
  ];
}

const dequantQ4_K: Dequantizer = (src, out) => {
  const table = halfTableView();
  for (let b = 0, o = 0; o < out.length; b += 144) {
    const d = f16At(src, b, table);
    const dmin = f16At(src, b + 2, table);
    const scales = b + 4;
    let q = b + 16;
    for (let j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
      const [sc1, m1] = scaleMinK4(is, src, scales);
      const [sc2, m2] = scaleMinK4(is + 1, src, scales);
      const d1 = d * sc1,
        min1 = dmin * m1,
        d2 = d * sc2,
        min2 = dmin * m2;
      for (let l = 0; l < 32; l++) out[o++] = d1 * (src[q + l]! & 0x0f) - min1;
      for (let l = 0; l < 32; l++) out[o++] = d2 * (src[q + l]! >> 4) - min2;
    }
  }
};

const dequantQ5_K: Dequantizer = (src, out) => {
  const table = halfTableView();
  for (let b = 0, o = 0; o < out.length; b += 176) {
    const d = f16At(src, b, table);
    const dmin = f16At(src, b + 2, table);
    const scales = b + 4;
    const qh = b + 16;
    let ql = b + 48;
    let u1 = 1,
      u2 = 2;
    for (let j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
      const [sc1, m1] = scaleMinK4(is, src, scales);
      const [sc2, m2] = scaleMinK4(is + 1, src, scales);
      const d1 = d * sc1,
        min1 = dmin * m1,
        d2 = d * sc2,
        min2 = dmin * m2;
      for (let l = 0; l < 32; l++) out[o++] = d1 * ((src[ql + l]! & 0x0f) + (src[qh + l]! & u1 ? 16 : 0)) - min1;
      for (let l = 0; l < 32; l++) out[o++] = d2 * ((src[ql + l]! >> 4) + (src[qh + l]! & u2 ? 16 : 0)) - min2;
    }
  }
};

const dequantQ6_K: Dequantizer = (src, out) => {
  const table = halfTableView();
  for (let b = 0, o = 0; o < out.length; b += 210, o += 256) {
    const d = f16At(src, b + 208, table);
    let ql = b;
    let qh = b + 128;
    let sc = b + 192;
    for (let n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8) {
      const y = o + n;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l]!;
        const q1 = ((src[ql + l]! & 0x0f) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32]! & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = d * ((src[sc + is]! << 24) >> 24) * q1;
        out[y + l + 32] = d * ((src[sc + is + 2]! << 24) >> 24) * q2;
        out[y + l + 64] = d * ((src[sc + is + 4]! << 24) >> 24) * q3;
        out[y + l + 96] = d * ((src[sc + is + 6]! << 24) >> 24) * q4;
      }
    }
  }
};

const DEQUANTIZERS: ReadonlyMap<number, Dequantizer> = new Map([
  [GgmlType.F32, dequantF32],
  [GgmlType.F16, dequantF16],
  [GgmlType.BF16, dequantBF16],
  [GgmlType.Q8_0, dequantQ8_0],
  [GgmlType.Q4_0, dequantQ4_0],
  [GgmlType.Q4_1, dequantQ4_1],
  [GgmlType.Q4_K, dequantQ4_K],
  [GgmlType.Q5_K, dequantQ5_K],
  [GgmlType.Q6_K, dequantQ6_K],
]);

export function canDequantize(type: number): boolean {
  return DEQUANTIZERS.has(type);
}

/**
 * Dequantizes `out.length` elements from `src`. Returns false when the type is not supported (the caller
 * turns that into a GgufError naming the file and tensor).
 */
export function dequantize(type: number, src: Uint8Array, out: Float32Array): boolean {
  const fn = DEQUANTIZERS.get(type);
  if (!fn) return false;
  const traits = ggmlTypeTraits(type)!;
  const needed = (out.length / traits.blockSize) * traits.typeSize;
  if (out.length % traits.blockSize !== 0 || src.byteLength < needed) {
    throw new RangeError(`dequantize: ${out.length} elements need ${needed} bytes of ${traits.name}, got ${src.byteLength}`);
  }
  fn(src, out);
  return true;
}
