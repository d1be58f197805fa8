/**
 * GGUF reader. Parses the header, metadata and tensor infos through positional reads of a FileHandle
 * (never the whole file in memory) and dequantizes tensor rows on demand. Every count and length in the
 * file is checked against the bytes that remain before anything is allocated, so a truncated or lying
 * file ends in a `GgufError` naming the file and the problem, never in a crash, hang or huge allocation.
 */
import { createHash } from "node:crypto";
import { readSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { GgufError } from "../errors.js";
import { dequantize } from "./dequantize.js";
import { GgufMetadata } from "./metadata.js";
import {
  GGML_MAX_DIMS,
  GGML_MAX_NAME,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgufValueTypeId,
  ggmlTypeTraits,
  type GgufArray,
  type GgufScalar,
  type GgufTensorInfo,
  type GgufValue,
  type GgufValueType,
} from "./types.js";

const SUPPORTED_VERSIONS = [2, 3];
const MAX_ARRAY_NESTING = 8;
const HEADER_CHUNK = 1 << 20;

const VALUE_TYPE_BY_ID = new Map<number, GgufValueType>(
  Object.entries(GgufValueTypeId).map(([name, id]) => [id, name as GgufValueType]),
);
/** Smallest encoded size of one value of each type, used to bound counts before allocating. */
const MIN_VALUE_SIZE: Readonly<Record<GgufValueType, number>> = {
  u8: 1,
  i8: 1,
  bool: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  u64: 8,
  i64: 8,
  f64: 8,
  string: 8,
  array: 12,
};

/**
 * Sequential reader over the header region. Header parsing is a tight loop of tiny reads (a vocabulary
 * has tens of thousands of strings), so it reads synchronously into a 1 MiB window instead of awaiting a
 * promise per field; the window is bounded, the file is never read whole.
 */
class HeaderCursor {
  private window = Buffer.alloc(0);
  private windowStart = 0;
  private windowEnd = 0;
  pos = 0;

  constructor(
    private readonly fd: number,
    readonly fileSize: number,
    readonly file: string,
  ) {}

  fail(reason: string): GgufError {
    return new GgufError(this.file, reason);
  }

  remaining(): number {
    return this.fileSize - this.pos;
  }

  private take(n: number, what: string): number {
    if (n > this.remaining()) {
      throw this.fail(`truncated: ${what} at offset ${this.pos} needs ${n} bytes but only ${this.remaining()} remain`);
    }
    if (this.pos < this.windowStart || this.pos + n > this.windowEnd) {
      const size = Math.min(Math.max(n, HEADER_CHUNK), this.remaining());
      if (this.window.length < size) this.window = Buffer.alloc(size);
      let got = 0;
      while (got < size) {
        const r = readSync(this.fd, this.window, got, size - got, this.pos + got);
        if (r === 0) break;
        got += r;
      }
      if (got < n) throw this.fail(`truncated: short read at offset ${this.pos} (file changed while reading?)`);
      this.windowStart = this.pos;
      this.windowEnd = this.pos + got;
    }
    const at = this.pos - this.windowStart;
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    const at = this.take(1, what);
    return this.window.readUInt8(at);
  }
  i8(what: string): number {
    const at = this.take(1, what);
    return this.window.readInt8(at);
  }
  u16(what: string): number {
    const at = this.take(2, what);
    return this.window.readUInt16LE(at);
  }
  i16(what: string): number {
    const at = this.take(2, what);
    return this.window.readInt16LE(at);
  }
  u32(what: string): number {
    const at = this.take(4, what);
    return this.window.readUInt32LE(at);
  }
  i32(what: string): number {
    const at = this.take(4, what);
    return this.window.readInt32LE(at);
  }
  f32(what: string): number {
    const at = this.take(4, what);
    return this.window.readFloatLE(at);
  }
  f64(what: string): number {
    const at = this.take(8, what);
    return this.window.readDoubleLE(at);
  }
  u64(what: string): bigint {
    const at = this.take(8, what);
    return this.window.readBigUInt64LE(at);
  }
  i64(what: string): bigint {
    const at = this.take(8, what);
    return this.window.readBigInt64LE(at);
  }

  /** A u64 count or size that must fit in the remaining bytes when each unit takes `unitBytes`. */
  count(what: string, unitBytes: number): number {
    const at = this.pos;
    const raw = this.u64(what);
    if (raw * BigInt(unitBytes) > BigInt(this.remaining())) {
      throw this.fail(`${what} at offset ${at} is ${raw}, more than the ${this.remaining()} bytes left in the file allow`);
    }
    return Number(raw);
  }

  string(what: string): string {
    const length = this.count(`length of ${what}`, 1);
    if (length === 0) return "";
    const at = this.take(length, what);
    return this.window.toString("utf8", at, at + length);
  }
}

function readScalar(c: HeaderCursor, type: GgufValueType, what: string): GgufScalar {
  switch (type) {
    case "u8":
      return c.u8(what);
    case "i8":
      return c.i8(what);
    case "u16":
      return c.u16(what);
    case "i16":
      return c.i16(what);
    case "u32":
      return c.u32(what);
    case "i32":
      return c.i32(what);
    case "f32":
      return c.f32(what);
    case "f64":
      return c.f64(what);
    case "u64":
      return c.u64(what);
    case "i64":
      return c.i64(what);
    case "bool": {
      const at = c.pos;
      const b = c.u8(what);
      if (b > 1) throw c.fail(`${what} at offset ${at} is a bool with value ${b}`);
      return b === 1;
    }
    case "string":
      return c.string(what);
    case "array":
      throw c.fail(`internal: readScalar(array)`);
  }
}

function readValueType(c: HeaderCursor, what: string): GgufValueType {
  const at = c.pos;
  const id = c.u32(`type of ${what}`);
  const type = VALUE_TYPE_BY_ID.get(id);
  if (type === undefined) throw c.fail(`${what} at offset ${at} has unknown value type ${id}`);
  return type;
}

function readArray(c: HeaderCursor, what: string, depth: number): GgufArray {
  if (depth > MAX_ARRAY_NESTING) throw c.fail(`${what}: arrays nested deeper than ${MAX_ARRAY_NESTING}`);
  const itemType = readValueType(c, `items of ${what}`);
  const n = c.count(`item count of ${what}`, MIN_VALUE_SIZE[itemType]);
  const items: (GgufScalar | GgufArray)[] = new Array<GgufScalar | GgufArray>(n);
  for (let i = 0; i < n; i++) {
    items[i] = itemType === "array" ? readArray(c, `${what}[${i}]`, depth + 1) : readScalar(c, itemType, what);
  }
  return { itemType, items };
}

function readValue(c: HeaderCursor, key: string): GgufValue {
  const type = readValueType(c, `metadata '${key}'`);
  if (type === "array") return { type, value: readArray(c, `metadata '${key}'`, 1) };
  return { type, value: readScalar(c, type, `metadata '${key}'`) } as GgufValue;
}

export interface GgufHeader {
  readonly version: number;
  readonly metadata: GgufMetadata;
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** Absolute position where the tensor data section starts (end of the header, padded). */
  readonly dataOffset: number;
}

function parseHeader(c: HeaderCursor): GgufHeader {
  const magic = c.u32("magic");
  if (magic !== GGUF_MAGIC) {
    throw c.fail(`not a GGUF file (magic 0x${magic.toString(16).padStart(8, "0")}, expected 0x${GGUF_MAGIC.toString(16)} "GGUF")`);
  }
  const version = c.u32("version");
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw c.fail(`unsupported GGUF version ${version} (supported: ${SUPPORTED_VERSIONS.join(", ")})`);
  }
  // Minimum sizes: a tensor info is name length + n_dims + one dim + type + offset; a kv is key length + type + 1 byte.
  const tensorCount = c.count("tensor count", 8 + 4 + 8 + 4 + 8);
  const kvCount = c.count("metadata count", 8 + 4 + 1);

  const entries = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string(`key of metadata #${i}`);
    if (entries.has(key)) throw c.fail(`duplicate metadata key '${key}'`);
    entries.set(key, readValue(c, key));
  }
  const metadata = new GgufMetadata(c.file, entries);

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignValue = entries.get("general.alignment");
  if (alignValue !== undefined) {
    if (alignValue.type !== "u32" || alignValue.value === 0 || (alignValue.value & (alignValue.value - 1)) !== 0) {
      throw c.fail(`general.alignment must be a u32 power of two, got ${alignValue.type} ${String(alignValue.value)}`);
    }
    alignment = alignValue.value;
  }

  interface RawInfo {
    name: string;
    shape: number[];
    type: number;
    relOffset: bigint;
  }
  const raw: RawInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string(`name of tensor #${i}`);
    if (Buffer.byteLength(name) >= GGML_MAX_NAME) throw c.fail(`tensor name '${name}' is longer than ${GGML_MAX_NAME - 1} bytes`);
    if (names.has(name)) throw c.fail(`duplicate tensor '${name}'`);
    names.add(name);
    const nDims = c.u32(`dimension count of tensor '${name}'`);
    if (nDims < 1 || nDims > GGML_MAX_DIMS) throw c.fail(`tensor '${name}' has ${nDims} dimensions (1..${GGML_MAX_DIMS} allowed)`);
    const shape: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const ne = c.u64(`dimension ${d} of tensor '${name}'`);
      if (ne === 0n || ne > BigInt(c.fileSize) * 256n) {
        throw c.fail(`tensor '${name}' dimension ${d} is ${ne}, impossible for a file of ${c.fileSize} bytes`);
      }
      shape.push(Number(ne));
    }
    const type = c.u32(`type of tensor '${name}'`);
    const relOffset = c.u64(`offset of tensor '${name}'`);
    raw.push({ name, shape, type, relOffset });
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const dataBytes = BigInt(c.fileSize - Math.min(dataOffset, c.fileSize));
  const tensors = raw.map(({ name, shape, type, relOffset }): GgufTensorInfo => {
    const traits = ggmlTypeTraits(type);
    if (!traits) throw c.fail(`tensor '${name}' has unknown ggml type id ${type}`);
    const rowLength = shape[0]!;
    if (rowLength % traits.blockSize !== 0) {
      throw c.fail(`tensor '${name}' row length ${rowLength} is not a multiple of the ${traits.name} block size ${traits.blockSize}`);
    }
    const elements = shape.reduce((a, n) => a * BigInt(n), 1n);
    const byteSize = (elements / BigInt(traits.blockSize)) * BigInt(traits.typeSize);
    if (relOffset % BigInt(alignment) !== 0n) throw c.fail(`tensor '${name}' offset ${relOffset} is not aligned to ${alignment}`);
    if (relOffset + byteSize > dataBytes) {
      throw c.fail(
        `truncated or lying tensor info: '${name}' (${traits.name} [${shape.join(", ")}]) needs bytes ${relOffset}..${relOffset + byteSize} of the data section, which has ${dataBytes}`,
      );
    }
    const rowBytes = (rowLength / traits.blockSize) * traits.typeSize;
    return {
      name,
      type,
      typeName: traits.name,
      shape,
      elementCount: Number(elements),
      rowLength,
      rowCount: Number(elements) / rowLength,
      rowBytes,
      byteOffset: dataOffset + Number(relOffset),
      byteSize: Number(byteSize),
    };
  });
  return { version, metadata, tensors, alignment, dataOffset };
}

export interface GgufFile extends GgufHeader {
  readonly path: string;
  readonly fileSize: number;
  /** Tensor info by name; throws GgufError when the file has no such tensor. */
  tensor(name: string): GgufTensorInfo;
  hasTensor(name: string): boolean;
  /** Raw bytes of rows `start .. start+count` (all rows by default), in the tensor's own type. */
  readRaw(name: string, start?: number, count?: number): Promise<Uint8Array>;
  /** Rows `start .. start+count` dequantized to float32 (count × rowLength values, row-major). */
  readRows(name: string, start: number, count: number): Promise<Float32Array>;
  /** The whole tensor dequantized to float32. */
  readTensor(name: string): Promise<Float32Array>;
  /** Stable hash of header, metadata, tensor infos and a sample of each tensor's data. */
  fingerprint(): Promise<string>;
  close(): Promise<void>;
}

export interface OpenGgufOptions {
  /** Dequantized values must be finite (default true): a NaN/Inf weight means a corrupt file. */
  readonly requireFinite?: boolean;
}

/** Bytes of each tensor's data that go into the fingerprint (so two seeds of one shape differ). */
const FINGERPRINT_SAMPLE_BYTES = 1024;

class GgufFileImpl implements GgufFile {
  readonly version: number;
  readonly metadata: GgufMetadata;
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  readonly dataOffset: number;
  private readonly byName: ReadonlyMap<string, GgufTensorInfo>;
  private closed = false;

  constructor(
    readonly path: string,
    readonly fileSize: number,
    header: GgufHeader,
    private readonly handle: FileHandle,
    private readonly requireFinite: boolean,
  ) {
    this.version = header.version;
    this.metadata = header.metadata;
    this.tensors = header.tensors;
    this.alignment = header.alignment;
    this.dataOffset = header.dataOffset;
    this.byName = new Map(this.tensors.map((t) => [t.name, t]));
  }

  private fail(reason: string): GgufError {
    return new GgufError(this.path, reason);
  }

  hasTensor(name: string): boolean {
    return this.byName.has(name);
  }

  tensor(name: string): GgufTensorInfo {
    const info = this.byName.get(name);
    if (!info) throw this.fail(`no tensor named '${name}'`);
    return info;
  }

  private async readAt(position: number, length: number, what: string): Promise<Uint8Array> {
    if (this.closed) throw this.fail(`read of ${what} after close()`);
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buf, done, length - done, position + done);
      if (bytesRead === 0) throw this.fail(`unexpected end of file reading ${what} (file changed while open?)`);
      done += bytesRead;
    }
    return buf;
  }

  private rowRange(info: GgufTensorInfo, start: number, count: number): void {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > info.rowCount) {
      throw this.fail(`rows ${start}..${start + count} out of range for tensor '${info.name}' with ${info.rowCount} rows`);
    }
  }

  async readRaw(name: string, start = 0, count?: number): Promise<Uint8Array> {
    const info = this.tensor(name);
    const n = count ?? info.rowCount - start;
    this.rowRange(info, start, n);
    return this.readAt(info.byteOffset + start * info.rowBytes, n * info.rowBytes, `tensor '${name}'`);
  }

  async readRows(name: string, start: number, count: number): Promise<Float32Array> {
    const info = this.tensor(name);
    this.rowRange(info, start, count);
    const out = new Float32Array(count * info.rowLength);
    const bytes = await this.readAt(info.byteOffset + start * info.rowBytes, count * info.rowBytes, `tensor '${name}'`);
    if (!dequantize(info.type, bytes, out)) throw this.fail(`unsupported tensor type ${info.typeName} (tensor '${name}')`);
    if (this.requireFinite) {
      for (let i = 0; i < out.length; i++) {
        if (!Number.isFinite(out[i]!)) {
          throw this.fail(`tensor '${name}' row ${start + Math.floor(i / info.rowLength)} contains ${out[i]} (corrupt weights)`);
        }
      }
    }
    return out;
  }

  readTensor(name: string): Promise<Float32Array> {
    return this.readRows(name, 0, this.tensor(name).rowCount);
  }

  async fingerprint(): Promise<string> {
    const hash = createHash("sha256");
    hash.update(await this.readAt(0, this.dataOffset > this.fileSize ? this.fileSize : this.dataOffset, "header"));
    for (const t of this.tensors) {
      hash.update(await this.readAt(t.byteOffset, Math.min(t.byteSize, FINGERPRINT_SAMPLE_BYTES), `tensor '${t.name}'`));
    }
    return `sha256:${hash.digest("hex")}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/** Opens and parses a GGUF file. The caller must `close()` it; on a parse error the file is closed here. */
export async function openGguf(path: string, options: OpenGgufOptions = {}): Promise<GgufFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    throw new GgufError(path, `cannot open: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  try {
    const { size, isFile } = await handle.stat().then((s) => ({ size: s.size, isFile: s.isFile() }));
    if (!isFile) throw new GgufError(path, "not a regular file");
    const header = parseHeader(new HeaderCursor(handle.fd, size, path));
    return new GgufFileImpl(path, size, header, handle, options.requireFinite ?? true);
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Reads only the header of `path` (metadata and tensor infos) and closes it. */
export async function readGgufHeader(path: string): Promise<GgufHeader & { readonly fileSize: number }> {
  const file = await openGguf(path);
  await file.close();
  return file;
}

/** Fingerprint of the GGUF at `path`: identifies a base model for adapter packs (see GgufFile.fingerprint). */
export async function fingerprintGguf(path: string): Promise<string> {
  const file = await openGguf(path);
  try {
    return await file.fingerprint();
  } finally {
    await file.close();
  }
}
