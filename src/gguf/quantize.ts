/**
 * Float32 -> ggml encoders for the types this project writes (fixtures, LoRA adapters, tests of the
 * dequantizers). Ports of ggml-quants.c's `quantize_row_*_ref`, with float32 rounding (Math.fround) where
 * ggml computes in float so the bytes match ggml's own reference quantizer.
 */
import { floatToBf16, floatToHalf, halfToFloat } from "./half.js";
import { GgmlType, ggmlTypeTraits } from "./types.js";

type Quantizer = (src: Float32Array, out: Uint8Array) => void;
const fr = Math.fround;

const encodeF32: Quantizer = (src, out) => {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < src.length; i++) dv.setFloat32(i * 4, src[i]!, true);
};

function putU16(out: Uint8Array, pos: number, v: number): void {
  out[pos] = v & 0xff;
  out[pos + 1] = v >> 8;
}

const encodeF16: Quantizer = (src, out) => {
  for (let i = 0; i < src.length; i++) putU16(out, 2 * i, floatToHalf(src[i]!));
};

const encodeBF16: Quantizer = (src, out) => {
  for (let i = 0; i < src.length; i++) putU16(out, 2 * i, floatToBf16(src[i]!));
};

/** C roundf: half away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

const quantizeQ8_0: Quantizer = (src, out) => {
  for (let i = 0, b = 0; i < src.length; i += 32, b += 34) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[i + j]!));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    putU16(out, b, floatToHalf(d));
    for (let j = 0; j < 32; j++) out[b + 2 + j] = roundf(fr(src[i + j]! * id)) & 0xff;
  }
};

const quantizeQ4_0: Quantizer = (src, out) => {
  for (let i = 0, b = 0; i < src.length; i += 32, b += 18) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = src[i + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    putU16(out, b, floatToHalf(d));
    for (let j = 0; j < 16; j++) {
      const x0 = Math.min(15, Math.trunc(fr(fr(src[i + j]! * id) + 8.5)));
      const x1 = Math.min(15, Math.trunc(fr(fr(src[i + 16 + j]! * id) + 8.5)));
      out[b + 2 + j] = x0 | (x1 << 4);
    }
  }
};

const quantizeQ4_1: Quantizer = (src, out) => {
  for (let i = 0, b = 0; i < src.length; i += 32, b += 20) {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < 32; j++) {
      min = Math.min(min, src[i + j]!);
      max = Math.max(max, src[i + j]!);
    }
    const d = fr((max - min) / 15);
    const id = d ? fr(1 / d) : 0;
    putU16(out, b, floatToHalf(d));
    putU16(out, b + 2, floatToHalf(min));
    for (let j = 0; j < 16; j++) {
      const x0 = Math.min(15, Math.trunc(fr(fr((src[i + j]! - min) * id) + 0.5)));
      const x1 = Math.min(15, Math.trunc(fr(fr((src[i + 16 + j]! - min) * id) + 0.5)));
      out[b + 4 + j] = x0 | (x1 << 4);
    }
  }
};

const QUANTIZERS: ReadonlyMap<number, Quantizer> = new Map([
  [GgmlType.F32, encodeF32],
  [GgmlType.F16, encodeF16],
  [GgmlType.BF16, encodeBF16],
  [GgmlType.Q8_0, quantizeQ8_0],
  [GgmlType.Q4_0, quantizeQ4_0],
  [GgmlType.Q4_1, quantizeQ4_1],
]);

export function canQuantize(type: number): boolean {
  return QUANTIZERS.has(type);
}

/**
 * Encodes `src` (a whole number of blocks) as `type`. Returns undefined when the type has no encoder here;
 * the caller reports that with the file name.
 */
export function quantize(type: number, src: Float32Array): Uint8Array | undefined {
  const fn = QUANTIZERS.get(type);
  const traits = ggmlTypeTraits(type);
  if (!fn || !traits) return undefined;
  if (src.length % traits.blockSize !== 0) {
    throw new RangeError(`quantize: ${src.length} values are not whole ${traits.name} blocks of ${traits.blockSize}`);
  }
  const out = new Uint8Array((src.length / traits.blockSize) * traits.typeSize);
  fn(src, out);
  return out;
}

/** Worst-case absolute error of one quantized block `x` (used by tests to state error bounds). */
export function quantizationErrorBound(type: number, block: Float32Array): number {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let amax = 0;
  for (const v of block) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    amax = Math.max(amax, Math.abs(v));
  }
  // Half a quantization step plus the fp16 rounding of the stored scale/min (relative 2^-11).
  const fp16 = (v: number) => Math.abs(v - halfToFloat(floatToHalf(v)));
  switch (type) {
    case GgmlType.Q8_0:
      return (amax / 127) * 0.5 + 127 * fp16(amax / 127) + 1e-7;
    case GgmlType.Q4_0:
      return (amax / 8) * 0.5 + 8 * fp16(amax / 8) + amax / 8 + 1e-7; // clamping at 15 costs up to one step for +max
    case GgmlType.Q4_1:
      return ((max - min) / 15) * 0.5 + 15 * fp16((max - min) / 15) + fp16(min) + 1e-7;
    case GgmlType.F16:
      return amax * 2 ** -11 + 6e-8;
    case GgmlType.BF16:
      return amax * 2 ** -8;
    default:
      return 0;
  }
}
