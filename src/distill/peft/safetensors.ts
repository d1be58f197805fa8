/**
 * Minimal safetensors reader (no npm package covers it): 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}`, then raw little-endian data.
 * Every offset and size is checked against the file before any tensor is read.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { DistillError } from "../../errors.js";
import { bf16ToFloat, floatToHalf, halfToFloat } from "../../gguf/half.js";

const entrySchema = z.object({
  dtype: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});

const dtypeBytes: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
/** Header JSON larger than this is not an adapter file (the format caps it at 100 MB). */
const MAX_HEADER = 100 * 1024 * 1024;

export interface SafetensorsTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Values widened to f32. */
  read(): Float32Array;
}

export interface SafetensorsFile {
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
}

export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  const fail = (why: string): never => {
    throw new DistillError(`${file}: ${why}`);
  };
  if (bytes.length < 8) fail("too short for a safetensors header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.length) fail(`header length ${headerLen} exceeds the file (${bytes.length} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLen)).toString("utf8"));
  } catch {
    fail("header is not valid JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("header is not a JSON object");
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, SafetensorsTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = z.record(z.string(), z.string()).catch({}).parse(raw);
      continue;
    }
    const parsed = entrySchema.safeParse(raw);
    if (!parsed.success) fail(`tensor '${name}': malformed header entry`);
    const { dtype, shape, data_offsets: [begin, end] } = parsed.data!;
    const width = dtypeBytes[dtype];
    if (width === undefined) fail(`tensor '${name}': unsupported dtype ${dtype} (F32, F16, BF16 are supported)`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (end < begin || end > dataLen) fail(`tensor '${name}': data offsets [${begin}, ${end}] outside the data section (${dataLen} bytes)`);
    if (end - begin !== count * width!) fail(`tensor '${name}': ${end - begin} bytes for ${count} ${dtype} values`);
    const at = dataStart + begin;
    tensors.set(name, {
      name,
      dtype,
      shape,
      read() {
        const out = new Float32Array(count);
        const dv = new DataView(bytes.buffer, bytes.byteOffset + at, count * width!);
        if (dtype === "F32") for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
        else if (dtype === "F16") for (let i = 0; i < count; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
        else for (let i = 0; i < count; i++) out[i] = bf16ToFloat(dv.getUint16(i * 2, true));
        return out;
      },
    });
  }
  return { metadata, tensors };
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new DistillError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseSafetensors(bytes, path);
}

/** Serialises tensors (F32 or F16) in safetensors layout; used by tests to write PEFT fixtures. */
export function encodeSafetensors(tensors: readonly { name: string; shape: number[]; data: Float32Array; dtype?: "F32" | "F16" }[]): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    const width = t.dtype === "F16" ? 2 : 4;
    header[t.name] = { dtype: t.dtype ?? "F32", shape: t.shape, data_offsets: [offset, offset + t.data.length * width] };
    offset += t.data.length * width;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += " ";
  const headerBytes = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let o = 8 + headerBytes.length;
  for (const t of tensors) {
    for (const v of t.data) {
      if (t.dtype === "F16") {
        out.writeUInt16LE(floatToHalf(v), o);
        o += 2;
      } else {
        out.writeFloatLE(v, o);
        o += 4;
      }
    }
  }
  return out;
}
