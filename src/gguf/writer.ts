/**
 * GGUF v3 writer. The header (metadata + tensor infos) is encoded in memory; tensor data is encoded and
 * written one tensor at a time, so a large model never has to be materialised at once. The file appears
 * atomically: written to a temp file beside the target, fsynced, then renamed.
 */
import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { GgufError } from "../errors.js";
import { quantize } from "./quantize.js";
import {
  GGML_MAX_DIMS,
  GGML_MAX_NAME,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgufValueTypeId,
  ggmlTypeTraits,
  type GgufArray,
  type GgufScalar,
  type GgufValue,
  type GgufValueType,
} from "./types.js";

export type TensorData = Float32Array | (() => Float32Array | Promise<Float32Array>);

interface TensorSpecBase {
  readonly name: string;
  /** ggml `ne` order: row length first. */
  readonly shape: readonly number[];
  /** ggml type id to store. */
  readonly type: number;
}

/** A tensor to write: float values encoded to `type` here, or bytes already in `type`'s layout. */
export type GgufTensorSpec = TensorSpecBase & ({ readonly data: TensorData } | { readonly raw: Uint8Array });

export interface GgufWriteSpec {
  /** Written in this order. `general.alignment` is added when `alignment` is not the default. */
  readonly metadata: Iterable<readonly [string, GgufValue]>;
  readonly tensors: readonly GgufTensorSpec[];
  readonly alignment?: number;
}

/** Constructors for typed metadata values. */
export const ggufValue = {
  string: (value: string): GgufValue => ({ type: "string", value }),
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
  u32: (value: number): GgufValue => ({ type: "u32", value }),
  i32: (value: number): GgufValue => ({ type: "i32", value }),
  f32: (value: number): GgufValue => ({ type: "f32", value }),
  u64: (value: bigint): GgufValue => ({ type: "u64", value }),
  array: (itemType: GgufValueType, items: readonly (GgufScalar | GgufArray)[]): GgufValue => ({
    type: "array",
    value: { itemType, items },
  }),
};

/** Growable little-endian byte sink for the header. */
class ByteSink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  u8(v: number) {
    const at = this.reserve(1);
    this.buf.writeUInt8(v, at);
  }
  i8(v: number) {
    const at = this.reserve(1);
    this.buf.writeInt8(v, at);
  }
  u16(v: number) {
    const at = this.reserve(2);
    this.buf.writeUInt16LE(v, at);
  }
  i16(v: number) {
    const at = this.reserve(2);
    this.buf.writeInt16LE(v, at);
  }
  u32(v: number) {
    const at = this.reserve(4);
    this.buf.writeUInt32LE(v, at);
  }
  i32(v: number) {
    const at = this.reserve(4);
    this.buf.writeInt32LE(v, at);
  }
  f32(v: number) {
    const at = this.reserve(4);
    this.buf.writeFloatLE(v, at);
  }
  f64(v: number) {
    const at = this.reserve(8);
    this.buf.writeDoubleLE(v, at);
  }
  u64(v: bigint) {
    const at = this.reserve(8);
    this.buf.writeBigUInt64LE(v, at);
  }
  i64(v: bigint) {
    const at = this.reserve(8);
    this.buf.writeBigInt64LE(v, at);
  }
  string(s: string) {
    const bytes = Buffer.from(s, "utf8");
    this.u64(BigInt(bytes.length));
    const at = this.reserve(bytes.length);
    bytes.copy(this.buf, at);
  }
  pad(alignment: number) {
    this.reserve((alignment - (this.length % alignment)) % alignment);
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeScalar(sink: ByteSink, type: GgufValueType, v: GgufScalar | GgufArray, fail: (r: string) => GgufError): void {
  const expect = (ok: boolean) => {
    if (!ok) throw fail(`metadata value ${String(v)} is not a valid ${type}`);
  };
  switch (type) {
    case "u8":
    case "i8":
    case "u16":
    case "i16":
    case "u32":
    case "i32":
      expect(typeof v === "number" && Number.isInteger(v));
      sink[type](v as number);
      return;
    case "f32":
    case "f64":
      expect(typeof v === "number");
      sink[type](v as number);
      return;
    case "u64":
    case "i64":
      expect(typeof v === "bigint");
      sink[type](v as bigint);
      return;
    case "bool":
      expect(typeof v === "boolean");
      sink.u8(v ? 1 : 0);
      return;
    case "string":
      expect(typeof v === "string");
      sink.string(v as string);
      return;
    case "array": {
      expect(typeof v === "object");
      const arr = v as GgufArray;
      sink.u32(GgufValueTypeId[arr.itemType]);
      sink.u64(BigInt(arr.items.length));
      for (const item of arr.items) writeScalar(sink, arr.itemType, item, fail);
      return;
    }
  }
}

interface PlannedTensor {
  readonly spec: GgufTensorSpec;
  readonly byteSize: number;
  readonly relOffset: number;
}

function planTensors(spec: GgufWriteSpec, alignment: number, fail: (r: string) => GgufError): PlannedTensor[] {
  const names = new Set<string>();
  let offset = 0;
  return spec.tensors.map((t) => {
    if (Buffer.byteLength(t.name) >= GGML_MAX_NAME) throw fail(`tensor name '${t.name}' is longer than ${GGML_MAX_NAME - 1} bytes`);
    if (names.has(t.name)) throw fail(`duplicate tensor '${t.name}'`);
    names.add(t.name);
    const traits = ggmlTypeTraits(t.type);
    if (!traits) throw fail(`tensor '${t.name}': unknown ggml type id ${t.type}`);
    if (t.shape.length < 1 || t.shape.length > GGML_MAX_DIMS || t.shape.some((n) => !Number.isSafeInteger(n) || n < 1)) {
      throw fail(`tensor '${t.name}': invalid shape [${t.shape.join(", ")}]`);
    }
    if (t.shape[0]! % traits.blockSize !== 0) {
      throw fail(`tensor '${t.name}': row length ${t.shape[0]} is not a multiple of the ${traits.name} block size ${traits.blockSize}`);
    }
    const elements = t.shape.reduce((a, n) => a * n, 1);
    const byteSize = (elements / traits.blockSize) * traits.typeSize;
    const planned = { spec: t, byteSize, relOffset: offset };
    offset += Math.ceil(byteSize / alignment) * alignment;
    return planned;
  });
}

async function encodeTensor(t: PlannedTensor, fail: (r: string) => GgufError): Promise<Uint8Array> {
  const { spec } = t;
  const traits = ggmlTypeTraits(spec.type)!;
  let bytes: Uint8Array;
  if ("raw" in spec) {
    bytes = spec.raw;
  } else {
    const values = typeof spec.data === "function" ? await spec.data() : spec.data;
    const elements = spec.shape.reduce((a, n) => a * n, 1);
    if (values.length !== elements) throw fail(`tensor '${spec.name}': ${values.length} values for shape [${spec.shape.join(", ")}] (${elements})`);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]!)) throw fail(`tensor '${spec.name}': value ${i} is ${values[i]}`);
    }
    const encoded = quantize(spec.type, values);
    if (!encoded) throw fail(`tensor '${spec.name}': writing ${traits.name} is not supported (encoders: F32, F16, BF16, Q8_0, Q4_0, Q4_1)`);
    bytes = encoded;
  }
  if (bytes.byteLength !== t.byteSize) throw fail(`tensor '${spec.name}': ${bytes.byteLength} bytes, expected ${t.byteSize}`);
  return bytes;
}

/** Writes `spec` as a GGUF v3 file at `path` (atomically). Bad specs throw GgufError naming `path`. */
export async function writeGguf(path: string, spec: GgufWriteSpec): Promise<void> {
  const fail = (reason: string) => new GgufError(path, reason);
  const alignment = spec.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment < 1 || (alignment & (alignment - 1)) !== 0) {
    throw fail(`alignment ${alignment} is not a power of two`);
  }
  const metadata = new Map<string, GgufValue>();
  for (const [key, value] of spec.metadata) {
    if (key.length === 0) throw fail("empty metadata key");
    if (metadata.has(key)) throw fail(`duplicate metadata key '${key}'`);
    metadata.set(key, value);
  }
  if (alignment !== GGUF_DEFAULT_ALIGNMENT) metadata.set("general.alignment", { type: "u32", value: alignment });
  const tensors = planTensors(spec, alignment, fail);

  const header = new ByteSink();
  header.u32(GGUF_MAGIC);
  header.u32(3);
  header.u64(BigInt(tensors.length));
  header.u64(BigInt(metadata.size));
  for (const [key, value] of metadata) {
    header.string(key);
    header.u32(GgufValueTypeId[value.type]);
    writeScalar(header, value.type, value.value, fail);
  }
  for (const { spec: t, relOffset } of tensors) {
    header.string(t.name);
    header.u32(t.shape.length);
    for (const n of t.shape) header.u64(BigInt(n));
    header.u32(t.type);
    header.u64(BigInt(relOffset));
  }
  header.pad(alignment);

  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await open(tmp, "wx");
  try {
    await handle.write(header.bytes(), 0, header.length, 0);
    for (const t of tensors) {
      const bytes = await encodeTensor(t, fail);
      const padded = Math.ceil(t.byteSize / alignment) * alignment;
      await handle.write(bytes, 0, bytes.byteLength, header.length + t.relOffset);
      if (padded > t.byteSize) await handle.write(Buffer.alloc(padded - t.byteSize), 0, padded - t.byteSize, header.length + t.relOffset + t.byteSize);
    }
    await handle.sync();
    await handle.close();
    await rename(tmp, path);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
