/**
 * Dequantization of the GGML types small llama GGUFs use (F32, F16, BF16, Q8_0, Q4_0, Q4_1), block layouts as in
 * ggml-quants.c. Kept here until the project's GGUF toolkit (src/gguf) exposes a row reader the trainer can use.
 */
import { GgufError } from "../../errors.js";

const BLOCK = 32;
const layout: Record<number, { name: string; blockBytes: number; blockSize: number }> = {
  0: { name: "F32", blockBytes: 4, blockSize: 1 },
  1: { name: "F16", blockBytes: 2, blockSize: 1 },
  30: { name: "BF16", blockBytes: 2, blockSize: 1 },
  2: { name: "Q4_0", blockBytes: 18, blockSize: BLOCK },
  3: { name: "Q4_1", blockBytes: 20, blockSize: BLOCK },
  8: { name: "Q8_0", blockBytes: 34, blockSize: BLOCK },
};

export function tensorByteSize(type: number, count: number, file: string, tensor: string): number {
  const l = layout[type];
  if (l === undefined) throw new GgufError(file, `tensor '${tensor}': unsupported type ${type} for training`);
  if (count % l.blockSize !== 0) throw new GgufError(file, `tensor '${tensor}': ${count} elements is not a multiple of ${l.blockSize}`);
  return (count / l.blockSize) * l.blockBytes;
}

const f16Buf = new DataView(new ArrayBuffer(4));
/** IEEE half → float (subnormals, inf and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function bf16ToFloat(h: number): number {
  f16Buf.setUint32(0, h << 16);
  return f16Buf.getFloat32(0);
}

export function dequantize(bytes: Buffer, type: number, count: number, file: string, tensor: string): Float32Array {
  const out = new Float32Array(count);
  switch (type) {
    case 0:
      for (let i = 0; i < count; i++) out[i] = bytes.readFloatLE(i * 4);
      break;
    case 1:
      for (let i = 0; i < count; i++) out[i] = halfToFloat(bytes.readUInt16LE(i * 2));
      break;
    case 30:
      for (let i = 0; i < count; i++) out[i] = bf16ToFloat(bytes.readUInt16LE(i * 2));
      break;
    case 8:
      for (let b = 0; b < count / BLOCK; b++) {
        const o = b * 34;
        const d = halfToFloat(bytes.readUInt16LE(o));
        for (let j = 0; j < BLOCK; j++) out[b * BLOCK + j] = d * bytes.readInt8(o + 2 + j);
      }
      break;
    case 2:
    case 3: {
      const q41 = type === 3;
      const bb = q41 ? 20 : 18;
      for (let b = 0; b < count / BLOCK; b++) {
        const o = b * bb;
        const d = halfToFloat(bytes.readUInt16LE(o));
        const m = q41 ? halfToFloat(bytes.readUInt16LE(o + 2)) : 0;
        const qs = o + (q41 ? 4 : 2);
        for (let j = 0; j < 16; j++) {
          const v = bytes[qs + j]!;
          const lo = v & 0x0f, hi = v >> 4;
          out[b * BLOCK + j] = q41 ? lo * d + m : (lo - 8) * d;
          out[b * BLOCK + j + 16] = q41 ? hi * d + m : (hi - 8) * d;
        }
      }
      break;
    }
    default:
      throw new GgufError(file, `tensor '${tensor}': unsupported type ${type} for training`);
  }
  return out;
}
