/**
 * WebAssembly SIMD matmul kernels on worker threads. Two micro-kernels share one memory: `nt` (contiguous dot
 * products, for x·Wᵀ with W pinned once) and `mm` (axpy form with strided A, for nn and tn, so nothing is
 * transposed per call). Frozen weights are pinned once into shared wasm memory (W, and Wᵀ for the dy·W
 * backward); small operands are copied into zero-padded scratch memory; columns are split across the calling
 * thread and `threads − 1` workers.
 */
import { Worker } from "node:worker_threads";
import wabtInit from "wabt";
import type { MatmulKernels } from "./matmul.js";
import { kernelModuleWat } from "./nt-wat.js";

/** The slice of the WebAssembly JS API used here (the project's lib settings carry no DOM/wasm typings). */
interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<{ exports: Record<string, unknown> }>;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type NtFn = (
  a: number, b: number, c: number, m: number, n: number, k: number, accum: number, j0: number, j1: number, lda: number, ldb: number,
) => void;
type MmFn = (
  a: number, b: number, c: number, m: number, n: number, k: number, sai: number, sap: number, accum: number, j0: number, j1: number,
) => void;

const PAGE = 65536;
const ceil4 = (x: number) => (x + 3) & ~3;
const ceil8 = (x: number) => (x + 7) & ~7;

/** Control block: [generation, pending workers, a, b, c, m, n, k, op (0 nt, 1 mm), sai, sap, accum, lda, ldb, then per worker j0, j1]. */
const CTRL_FIELDS = 14;
/** nn over a pinned transpose with k at least this long runs in k-blocks of KBLOCK (the vocabulary head's dLogits·W). */
const KBLOCK_MIN_K = 8192;
const KBLOCK = 1024;
/** Waits re-check their condition at least this often (ms), so a lost wake-up costs a pause, never a hang. */
const WAIT_MS = 20;

const workerSource = `
const { parentPort, workerData } = require("node:worker_threads");
const { memory, module, ctrl, index } = workerData;
const inst = new WebAssembly.Instance(module, { env: { memory } });
const nt = inst.exports.nt, mm = inst.exports.mm;
const c = new Int32Array(ctrl);
let seen = 0;
parentPort.postMessage("ready");
for (;;) {
  const gen = Atomics.load(c, 0);
  if (gen === seen) { Atomics.wait(c, 0, seen, ${WAIT_MS}); continue; }
  seen = gen;
  if (seen < 0) break;
  const j0 = c[${CTRL_FIELDS} + 2 * index], j1 = c[${CTRL_FIELDS} + 2 * index + 1];
  if (j1 > j0) {
    if (c[8] === 0) nt(c[2], c[3], c[4], c[5], c[6], c[7], c[11], j0, j1, c[12], c[13]);
    else mm(c[2], c[3], c[4], c[5], c[6], c[7], c[9], c[10], c[11], j0, j1);
  }
  if (Atomics.sub(c, 1, 1) === 1) Atomics.notify(c, 1);
}
`;

/** One product for `run`: which kernel, and its operands' byte strides (nt: row strides of A and B; mm: A's). */
type Op = { readonly kind: "nt"; readonly lda: number; readonly ldb: number } | { readonly kind: "mm"; readonly sai: number; readonly sap: number };

const packedNt = (k: number): Op => ({ kind: "nt", lda: 4 * k, ldb: 4 * k });

/** One pinned weight: its shape and byte offsets of W and Wᵀ in wasm memory. */
interface PinRecord {
  readonly rows: number;
  readonly cols: number;
  readonly p: number;
  readonly t: number;
}

/**
 * What a kernel set on another thread needs to compute with this one's pinned weights: the shared memory, the
 * compiled module, the pins in the order they were made, and its own scratch arena (byte range) in that memory.
 * Structured-cloneable, so it travels to a worker in a message.
 */
export interface WasmKernelShare {
  readonly memory: WasmMemory;
  readonly module: object;
  readonly pins: readonly PinRecord[];
  readonly arena: { readonly start: number; readonly end: number };
}

export class WasmKernels implements MatmulKernels {
  readonly name: string;
  private heapTop = 0;
  private f32: Float32Array;
  private readonly pinned = new WeakMap<Float32Array, number>();
  private readonly pinnedT = new WeakMap<Float32Array, number>();
  private readonly ctrl: Int32Array;
  /** Pins in call order, so a kernel set attached on another thread can map its own arrays to them. */
  private readonly pinLog: PinRecord[] = [];
  /** Attached sets take their pins from the owner's log instead of copying weights. */
  private replay: { readonly pins: readonly PinRecord[]; next: number } | null = null;
  /** End of this set's scratch arena once the memory is shared between kernel sets (bytes); none before. */
  private heapLimit = Infinity;

  private constructor(
    private readonly memory: WasmMemory,
    private readonly module: object,
    private readonly ntFn: NtFn,
    private readonly mmFn: MmFn,
    private readonly workers: readonly Worker[],
    ctrl: SharedArrayBuffer,
  ) {
    this.name = `wasm-simd×${workers.length + 1}`;
    this.f32 = new Float32Array(memory.buffer);
    this.ctrl = new Int32Array(ctrl);
  }

  static async create(threads: number): Promise<WasmKernels> {
    const wabt = await wabtInit();
    const parsed = wabt.parseWat("kernels.wat", kernelModuleWat(), { simd: true, threads: true });
    const { buffer } = parsed.toBinary({});
    parsed.destroy();
    const module = await wasmApi.compile(buffer);
    const memory = new wasmApi.Memory({ initial: 256, maximum: 65536, shared: true });
    const instance = await wasmApi.instantiate(module, { env: { memory } });
    const ctrl = new SharedArrayBuffer(4 * (CTRL_FIELDS + 2 * Math.max(1, threads)));
    const workers = await Promise.all(
      Array.from({ length: Math.max(0, threads - 1) }, (_, index) => {
        const w = new Worker(workerSource, { eval: true, workerData: { memory, module, ctrl, index } });
        return new Promise<Worker>((resolve, reject) => {
          w.once("message", () => resolve(w));
          w.once("error", reject);
        });
      }),
    );
    for (const w of workers) w.unref();
    return new WasmKernels(memory, module, instance.exports["nt"] as NtFn, instance.exports["mm"] as MmFn, workers, ctrl);
  }

  /**
   * A kernel set for another thread (see `shareArenas`): the same memory and pinned weights, its own scratch
   * arena, no worker threads of its own. Its `pinFrozen` calls must come in the owner's order (a student built
   * from the same weights makes them so); a mismatch is an error, never a silent wrong weight.
   */
  static async attach(share: WasmKernelShare): Promise<WasmKernels> {
    const instance = await wasmApi.instantiate(share.module, { env: { memory: share.memory } });
    const k = new WasmKernels(share.memory, share.module, instance.exports["nt"] as NtFn, instance.exports["mm"] as MmFn, [], new SharedArrayBuffer(4 * (CTRL_FIELDS + 2)));
    k.replay = { pins: share.pins, next: 0 };
    k.heapTop = share.arena.start;
    k.heapLimit = share.arena.end;
    return k;
  }

  /**
   * Splits the scratch space after the pinned weights into `1 + count` arenas of `arenaBytes` (this set keeps
   * the first) and returns one share per other arena, so `count` kernel sets on other threads can run products
   * at the same time as this one. Pin every weight first: pinning after sharing is refused.
   */
  shareArenas(count: number, arenaBytes: number): WasmKernelShare[] {
    if (this.workers.length > 0) throw new Error("kernel sets sharing memory run one thread each (create with threads = 1)");
    const start = (this.heapTop + PAGE - 1) & ~(PAGE - 1);
    const end = start + (count + 1) * arenaBytes;
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.f32 = new Float32Array(this.memory.buffer);
    this.heapTop = start;
    this.heapLimit = start + arenaBytes;
    return Array.from({ length: count }, (_, i) => ({
      memory: this.memory,
      module: this.module,
      pins: [...this.pinLog],
      arena: { start: start + (i + 1) * arenaBytes, end: start + (i + 2) * arenaBytes },
    }));
  }

  async dispose(): Promise<void> {
    Atomics.store(this.ctrl, 0, -1);
    Atomics.notify(this.ctrl, 0);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** Copies frozen weights [rows, cols] into wasm memory once, in both layouts. */
  pinFrozen(w: Float32Array, rows: number, cols: number): void {
    if (this.pinned.has(w) || rows % 4 !== 0 || cols % 4 !== 0) return;
    if (this.replay !== null) {
      const pin = this.replay.pins[this.replay.next++];
      if (pin === undefined || pin.rows !== rows || pin.cols !== cols) {
        throw new Error(`attached kernels: pin ${this.replay.next - 1} is [${rows}, ${cols}], the owner's is ${pin ? `[${pin.rows}, ${pin.cols}]` : "missing"}`);
      }
      this.pinned.set(w, pin.p);
      this.pinnedT.set(w, pin.t);
      return;
    }
    if (this.heapLimit !== Infinity) throw new Error("weights must be pinned before the kernel memory is shared");
    const p = this.alloc(w.length);
    this.f32.set(w, p / 4);
    this.pinned.set(w, p);
    const t = this.alloc(w.length);
    transposeInto(w, rows, cols, this.f32, t / 4, rows);
    this.pinnedT.set(w, t);
    this.pinLog.push({ rows, cols, p, t });
  }

  nt(a: Float32Array, b: Float32Array, out: Float32Array, m: number, n: number, k: number, accumulate: boolean): void {
    const mark = this.heapTop;
    const kp = ceil4(k), np = ceil4(n);
    const bp = kp === k && np === n ? this.pinned.get(b) : undefined;
    if (bp !== undefined) {
      const ap = this.alloc(m * kp);
      copyPadded(a, m, k, this.f32, ap / 4, m, kp);
      this.run(packedNt(kp), ap, bp, m, np, kp, out, n, accumulate);
    } else {
      // Small operand (LoRA A/B, one attention head): transposing it is cheap, and the axpy kernel has no
      // per-output horizontal sums, which dominate when n or k is as small as the LoRA rank.
      const mp = ceil4(m), np8 = ceil8(n);
      const ap = this.alloc(mp * k);
      copyPadded(a, m, k, this.f32, ap / 4, mp, k);
      const bt = this.alloc(k * np8);
      this.f32.fill(0, bt / 4, bt / 4 + k * np8);
      transposeInto(b, n, k, this.f32, bt / 4, np8);
      this.run({ kind: "mm", sai: 4 * k, sap: 4 }, ap, bt, mp, np8, k, out, n, accumulate, m);
    }
    this.heapTop = mark;
  }

  nn(a: Float32Array, b: Float32Array, out: Float32Array, m: number, n: number, k: number, accumulate: boolean): void {
    const mark = this.heapTop;
    // Frozen weights: dot-product kernel over the pinned transpose (contiguous in k, best for long k).
    const pinnedT = k % 4 === 0 && n % 4 === 0 ? this.pinnedT.get(b) : undefined;
    if (pinnedT !== undefined && k >= KBLOCK_MIN_K && k % KBLOCK === 0) {
      // Long k (the vocabulary head): one pass over all of k re-reads A (m × k, megabytes) from memory for every
      // 4 output columns; per k-block A's slice stays in cache. Partial products accumulate in place.
      const ap = this.alloc(m * k);
      copyPadded(a, m, k, this.f32, ap / 4, m, k);
      const cp = this.alloc(m * n);
      if (accumulate) this.f32.set(out.subarray(0, m * n), cp / 4);
      const op: Op = { kind: "nt", lda: 4 * k, ldb: 4 * k };
      for (let k0 = 0; k0 < k; k0 += KBLOCK) {
        this.dispatch(op, ap + 4 * k0, pinnedT + 4 * k0, cp, m, n, KBLOCK, accumulate || k0 > 0);
      }
      out.set(this.f32.subarray(cp / 4, cp / 4 + m * n));
    } else if (pinnedT !== undefined) {
      const ap = this.alloc(m * k);
      copyPadded(a, m, k, this.f32, ap / 4, m, k);
      this.run(packedNt(k), ap, pinnedT, m, n, k, out, n, accumulate);
    } else {
      const mp = ceil4(m), np = ceil8(n);
      const ap = this.alloc(mp * k);
      copyPadded(a, m, k, this.f32, ap / 4, mp, k);
      const bp = this.alloc(k * np);
      copyPadded(b, k, n, this.f32, bp / 4, k, np);
      this.run({ kind: "mm", sai: 4 * k, sap: 4 }, ap, bp, mp, np, k, out, n, accumulate, m);
    }
    this.heapTop = mark;
  }

  tn(a: Float32Array, b: Float32Array, out: Float32Array, m: number, n: number, k: number, accumulate: boolean): void {
    const mark = this.heapTop;
    const mp = ceil4(m), np = ceil8(n);
    const ap = this.alloc(k * mp);
    copyPadded(a, k, m, this.f32, ap / 4, k, mp);
    const bp = this.alloc(k * np);
    copyPadded(b, k, n, this.f32, bp / 4, k, np);
    this.run({ kind: "mm", sai: 4, sap: 4 * mp }, ap, bp, mp, np, k, out, n, accumulate, m);
    this.heapTop = mark;
  }

  /**
   * C[mp, np] (+)= product over padded operands, split by columns across threads; the first `rows` rows and `n`
   * columns land in `out`. Accumulation happens inside the kernel (out is copied in first), not in a JS loop.
   */
  private run(
    op: Op, ap: number, bp: number, mp: number, np: number, k: number, out: Float32Array, n: number, accumulate: boolean, rows = mp,
  ): void {
    const cp = this.alloc(mp * np);
    const heap = this.f32;
    const base = cp / 4;
    if (accumulate) {
      if (np === n) heap.set(out.subarray(0, rows * n), base);
      else for (let i = 0; i < rows; i++) heap.set(out.subarray(i * n, (i + 1) * n), base + i * np);
    }
    this.dispatch(op, ap, bp, cp, mp, np, k, accumulate);
    if (np === n) out.set(heap.subarray(base, base + rows * n));
    else for (let i = 0; i < rows; i++) out.set(heap.subarray(base + i * np, base + i * np + n), i * n);
  }

  /** C[mp, np] at `cp` (+)= the product, columns split across the calling thread and the workers. */
  private dispatch(op: Op, ap: number, bp: number, cp: number, mp: number, np: number, k: number, accumulate: boolean): void {
    const accum = accumulate ? 1 : 0;
    const width = op.kind === "nt" ? 4 : 8;
    const call = (j0: number, j1: number) =>
      op.kind === "nt"
        ? this.ntFn(ap, bp, cp, mp, np, k, accum, j0, j1, op.lda, op.ldb)
        : this.mmFn(ap, bp, cp, mp, np, k, op.sai, op.sap, accum, j0, j1);
    const parts = this.workers.length + 1;
    // Below ~2M multiply-adds a thread hand-off costs more than it saves (worse on a busy machine).
    if (parts === 1 || mp * np * k < 1 << 21) {
      call(0, np);
    } else {
      const per = Math.ceil(np / width / parts) * width;
      const c = this.ctrl;
      c[2] = ap; c[3] = bp; c[4] = cp; c[5] = mp; c[6] = np; c[7] = k;
      c[8] = op.kind === "nt" ? 0 : 1;
      c[9] = op.kind === "mm" ? op.sai : 0;
      c[10] = op.kind === "mm" ? op.sap : 0;
      c[11] = accum;
      c[12] = op.kind === "nt" ? op.lda : 0;
      c[13] = op.kind === "nt" ? op.ldb : 0;
      for (let w = 0; w < this.workers.length; w++) {
        c[CTRL_FIELDS + 2 * w] = Math.min(np, (w + 1) * per);
        c[CTRL_FIELDS + 2 * w + 1] = Math.min(np, (w + 2) * per);
      }
      Atomics.store(c, 1, this.workers.length);
      Atomics.add(c, 0, 1);
      Atomics.notify(c, 0);
      call(0, Math.min(np, per));
      for (;;) {
        const left = Atomics.load(c, 1);
        if (left === 0) break;
        Atomics.wait(c, 1, left, WAIT_MS);
      }
    }
  }

  /** Bump allocation (bytes, 16-aligned); scratch is released by resetting `heapTop` after each call. */
  private alloc(floats: number): number {
    const p = this.heapTop;
    const end = p + ((floats * 4 + 15) & ~15);
    if (end > this.heapLimit) {
      throw new RangeError(`wasm scratch arena full: ${(end - p) >> 20} MB more needed; sequences this long need a larger arena`);
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      this.memory.grow(Math.ceil((end - have) / PAGE));
    }
    if (this.f32.buffer.byteLength !== this.memory.buffer.byteLength) this.f32 = new Float32Array(this.memory.buffer);
    this.heapTop = end;
    return p;
  }
}

function copyPadded(src: Float32Array, rows: number, cols: number, heap: Float32Array, at: number, prows: number, pcols: number): void {
  if (cols === pcols) heap.set(src.subarray(0, rows * cols), at);
  else for (let r = 0; r < rows; r++) {
    heap.set(src.subarray(r * cols, (r + 1) * cols), at + r * pcols);
    heap.fill(0, at + r * pcols + cols, at + (r + 1) * pcols);
  }
  if (prows > rows) heap.fill(0, at + rows * pcols, at + prows * pcols);
}

/** heap[at + c·ld + r] = src[r·cols + c]: src [rows, cols] → [cols, ld] (ld ≥ rows, padding untouched). */
function transposeInto(src: Float32Array, rows: number, cols: number, heap: Float32Array, at: number, ld: number): void {
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) heap[at + c * ld + r] = src[r * cols + c]!;
    }
  }
}
