/**
 * Teacher signal file (`teacher.prtk`): the persona-in-context teacher's top-k logits for every
 * response token of every distill sample, for the distillation trainer (src/distill).
 *
 * Layout, little-endian, every section 4-byte aligned:
 *
 *   header (32 bytes)
 *     0  magic      "PRTK"
 *     4  u32        version = 1
 *     8  u32        topK (k)
 *    12  u32        logit type: 0 = float32, 1 = float16
 *    16  u32        record count
 *    20  12 bytes   reserved (zero)
 *   record × count
 *     u32           id length in bytes (L)
 *     L bytes       id, UTF-8 (the sample key in distill.jsonl), zero-padded to a multiple of 4
 *     u32           response token count (n)
 *     u32 × n       response token ids, exactly as the persona answer was sampled
 *     u32 × n·k     top-k token ids per position, highest logit first
 *     f16/f32 × n·k raw logits matching the ids (zero-padded to a multiple of 4 bytes)
 *
 * Row t holds the teacher's logits predicting response token t, with the persona as system prompt
 * (the chat template's tokens up to the assistant turn, then response tokens 0..t-1). The student
 * sees the same query without the persona: its prompt is `query` from distill.jsonl, chat-templated
 * with no system message, followed by these response ids.
 */
import { readFile } from "node:fs/promises";
import { getFloat16, setFloat16 } from "@petamoriken/float16";
import { BootstrapError } from "../errors.js";
import { writeFileAtomic } from "./stage-runner.js";

export const TEACHER_MAGIC = "PRTK";
export const TEACHER_VERSION = 1;
const HEADER_BYTES = 32;

export type LogitType = "f32" | "f16";

export interface TeacherRecord {
  readonly id: string;
  readonly responseTokens: Uint32Array;
  /** n × k ids, row-major. */
  readonly topIds: Uint32Array;
  /** n × k logits, row-major (f16 files are widened to float32 when read). */
  readonly topLogits: Float32Array;
}

export interface TeacherFile {
  readonly topK: number;
  readonly logitType: LogitType;
  readonly records: readonly TeacherRecord[];
}

const pad4 = (n: number) => (n + 3) & ~3;

function recordBytes(r: TeacherRecord, k: number, logitType: LogitType): number {
  const n = r.responseTokens.length;
  return 4 + pad4(Buffer.byteLength(r.id, "utf8")) + 4 + 4 * n + 4 * n * k + pad4(n * k * (logitType === "f16" ? 2 : 4));
}

export function encodeTeacherFile(file: TeacherFile): Uint8Array {
  const k = file.topK;
  const total = HEADER_BYTES + file.records.reduce((a, r) => a + recordBytes(r, k, file.logitType), 0);
  const buf = new ArrayBuffer(total);
  const view = new DataView(buf);
  const bytes = new Uint8Array(buf);
  bytes.set(Buffer.from(TEACHER_MAGIC, "ascii"), 0);
  view.setUint32(4, TEACHER_VERSION, true);
  view.setUint32(8, k, true);
  view.setUint32(12, file.logitType === "f16" ? 1 : 0, true);
  view.setUint32(16, file.records.length, true);
  let o = HEADER_BYTES;
  for (const r of file.records) {
    const n = r.responseTokens.length;
    if (r.topIds.length !== n * k || r.topLogits.length !== n * k) {
      throw new RangeError(`teacher record ${r.id}: expected ${n * k} top-k entries for ${n} tokens × k=${k}`);
    }
    const id = Buffer.from(r.id, "utf8");
    view.setUint32(o, id.length, true);
    bytes.set(id, o + 4);
    o += 4 + pad4(id.length);
    view.setUint32(o, n, true);
    o += 4;
    for (let i = 0; i < n; i++, o += 4) view.setUint32(o, r.responseTokens[i]!, true);
    for (let i = 0; i < n * k; i++, o += 4) view.setUint32(o, r.topIds[i]!, true);
    if (file.logitType === "f16") {
      for (let i = 0; i < n * k; i++, o += 2) setFloat16(view, o, r.topLogits[i]!, true);
      o = pad4(o);
    } else {
      for (let i = 0; i < n * k; i++, o += 4) view.setFloat32(o, r.topLogits[i]!, true);
    }
  }
  return bytes;
}

export function decodeTeacherFile(data: Uint8Array, name = "teacher file"): TeacherFile {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const fail = (why: string): never => {
    throw new BootstrapError(`${name}: ${why}`);
  };
  if (data.byteLength < HEADER_BYTES) fail("shorter than the 32-byte header");
  if (Buffer.from(data.subarray(0, 4)).toString("ascii") !== TEACHER_MAGIC) fail(`bad magic (expected ${TEACHER_MAGIC})`);
  const version = view.getUint32(4, true);
  if (version !== TEACHER_VERSION) fail(`unsupported version ${version}`);
  const k = view.getUint32(8, true);
  const type = view.getUint32(12, true);
  if (type > 1) fail(`unknown logit type ${type}`);
  const logitType: LogitType = type === 1 ? "f16" : "f32";
  const count = view.getUint32(16, true);
  const records: TeacherRecord[] = [];
  let o = HEADER_BYTES;
  const need = (bytes: number) => {
    if (o + bytes > data.byteLength) fail(`truncated in record ${records.length}`);
  };
  for (let r = 0; r < count; r++) {
    need(4);
    const idLen = view.getUint32(o, true);
    need(4 + pad4(idLen) + 4);
    const id = Buffer.from(data.subarray(o + 4, o + 4 + idLen)).toString("utf8");
    o += 4 + pad4(idLen);
    const n = view.getUint32(o, true);
    o += 4;
    need(4 * n + 4 * n * k + pad4(n * k * (logitType === "f16" ? 2 : 4)));
    const responseTokens = new Uint32Array(n);
    for (let i = 0; i < n; i++, o += 4) responseTokens[i] = view.getUint32(o, true);
    const topIds = new Uint32Array(n * k);
    for (let i = 0; i < n * k; i++, o += 4) topIds[i] = view.getUint32(o, true);
    const topLogits = new Float32Array(n * k);
    if (logitType === "f16") {
      for (let i = 0; i < n * k; i++, o += 2) topLogits[i] = getFloat16(view, o, true);
      o = pad4(o);
    } else {
      for (let i = 0; i < n * k; i++, o += 4) topLogits[i] = view.getFloat32(o, true);
    }
    records.push({ id, responseTokens, topIds, topLogits });
  }
  if (o !== data.byteLength) fail(`${data.byteLength - o} trailing bytes after ${count} records`);
  return { topK: k, logitType, records };
}

export async function writeTeacherFile(path: string, file: TeacherFile): Promise<void> {
  await writeFileAtomic(path, encodeTeacherFile(file));
}

export async function readTeacherFile(path: string): Promise<TeacherFile> {
  return decodeTeacherFile(await readFile(path), path);
}
