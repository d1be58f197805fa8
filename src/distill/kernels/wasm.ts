/**
 * WebAssembly SIMD matmul kernels on worker threads. All three layouts run through one `nt` micro-kernel
 * (contiguous dot products): frozen weights are pinned once into shared wasm memory in both layouts
 * (W for x·Wᵀ, Wᵀ for dy·W), small operands are copied or transposed per call into scratch memory (zero-padded
 * to multiples of 4), and columns are split across the calling thread and `threads − 1` workers.
 */
import { Worker } from "node:worker_threads";
import wabtInit from "wabt";
import type { MatmulKernels } from "./matmul.js";
import { ntKernelWat } from "./nt-wat.js";

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

type NtFn = (a: number, b: number, c: number, m: number, n: number, k: number, accum: number, j0: number, j1: number) => void;

const PAGE = 65536;
const ceil4 = (x: number) => (x + 3) & ~3;

/** Control block: [generation, pending workers, a, b, c, m, n, k, then per worker j0, j1]. */
const CTRL_FIELDS = 8;

const workerSource = `
const { parentPort, workerData } = require("node:worker_threads");
const { memory, module, ctrl, index } = workerData;
const inst = new WebAssembly.Instance(module, { env: { memory } });
const nt = inst.exports.nt;
const c = new Int32Array(ctrl);
let seen = 0;
parentPort.postMessage("ready");
for (;;) {
  Atomics.wait(c, 0, seen);
  seen = Atomics.load(c, 0);
  if (seen < 0) break;
  const j0 = c[${CTRL_FIELDS} + 2 * index], j1 = c[${CTRL_FIELDS} + 2 * index + 1];
  if (j1 > j0) nt(c[2], c[3], c[4], c[5], c[6], c[7], 0, j0, j1);
  if (Atomics.sub(c, 1, 1) === 1) Atomics.notify(c, 1);
}
`;

export class WasmKernels implements MatmulKernels {
  readonly name: string;
  private heapTop = 0;
  private f32: Float32Array;
  private readonly pinned = new WeakMap<Float32Array, number>();
  private readonly pinnedT = new WeakMap<Float32Array, number>();
  private readonly ctrl: Int32Array;

  private constructor(
    private readonly memory: WasmMemory,
    private readonly ntFn: NtFn,
    private readonly workers: readonly Worker[],
    ctrl: SharedArrayBuffer,
  ) {
    this.name = `wasm-simd×${workers.length + 1}`;
    this.f32 = new Float32Array(memory.buffer);
    this.ctrl = new Int32Array(ctrl);
  }

  static async create(threads: number): Promise<WasmKernels> {
    const wabt = await wabtInit();
    const parsed = wabt.parseWat("nt.wat", ntKernelWat(), { simd: true, threads: true });
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
    return new WasmKernels(memory, instance.exports["nt"] as NtFn, workers, ctrl);
  }

  async dispose(): Promise<void> {
    Atomics.store(this.ctrl, 0, -1);
    Atomics.notify(this.ctrl, 0);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** Copies frozen weights [rows, cols] into wasm memory once, in both layouts. */
  pinFrozen(w: Float32Array, rows: number, cols: number): void {
    if (this.pinned.has(w) || rows % 4 !== 0 || cols % 4 !== 0) return;
    const p = this.alloc(w.length);
    this.f32.set(w, p / 4);
    this.pinned.set(w, p);
    const t = this.alloc(w.length);
    transposeInto(w, rows, cols, this.f32, t / 4, rows);
    this.pinnedT.set(w, t);
  }

  nt(a: Float32Array, b: Float32Array, out: Float32Array, m: number, n: number, k: number, accumulate: boolean): void {
    const mark = this.heapTop;
    const kp = ceil4(k), np = ceil4(n);
    let bp = kp === k && np === n ? this.pinned.get(b) : undefined;
    if (bp === undefined) {
      bp = this.alloc(np * kp);
      copyPadded(b, n, k, this.f32, bp / 4, np, kp);
    }
    const ap = this.alloc(m * kp);
    copyPadded(a, m, k, this.f32, ap / 4, m, kp);
    this.run(ap, bp, m, np, kp, out, n, accumulate);
    this.heapTop = mark;
  }

  nn(a: Float32Array, b: Float32Array, out: Float32Array, m: number, n: number, k: number, accumulate: boolean): void {
    const mark = this.heapTop;
    const kp = ceil4(k), np = ceil4(n);
    let bp = kp === k && np === n ? this.pinnedT.get(b) : undefined;
    if (bp === undefined) {
      bp = this.alloc(np * kp);
      this.f32.fill(0, bp / 4, bp / 4 + np * kp);
      transposeInto(b, k, n, this.f32, bp / 4, kp);
    }
    const ap = this.alloc(m * kp);
    copyPadded(a, m, k, this.f32, ap / 4, m, kp);
    this.run(ap, bp, m, np, kp, out, n, accumulate);
    this.heapTop = mark;
  }

  tn(a: Float32Array, b: Float32Array, out: Float32Array, m: number, n: number, k: number, accumulate: boolean): void {
    const mark = this.heapTop;
    const kp = ceil4(k), np = ceil4(n);
    const ap = this.alloc(m * kp);
    this.f32.fill(0, ap / 4, ap / 4 + m * kp);
    transposeInto(a, k, m, this.f32, ap / 4, kp);
    const bp = this.alloc(np * kp);
    this.f32.fill(0, bp / 4, bp / 4 + np * kp);
    transposeInto(b, k, n, this.f32, bp / 4, kp);
    this.run(ap, bp, m, np, kp, out, n, accumulate);
    this.heapTop = mark;
  }

  /** C = A·Bᵀ over padded operands, split by columns across threads, then copied (or added) into `out`. */
  private run(ap: number, bp: number, m: number, np: number, kp: number, out: Float32Array, n: number, accumulate: boolean): void {
    const cp = this.alloc(m * np);
    const parts = this.workers.length + 1;
    const blocks = np / 4;
    const per = Math.ceil(blocks / parts);
    // Below ~2M multiply-adds a thread hand-off costs more than it saves (worse on a busy machine).
    if (parts === 1 || m * np * kp < 1 << 21) {
      this.ntFn(ap, bp, cp, m, np, kp, 0, 0, np);
    } else {
      const c = this.ctrl;
      c[2] = ap; c[3] = bp; c[4] = cp; c[5] = m; c[6] = np; c[7] = kp;
      for (let w = 0; w < this.workers.length; w++) {
        c[CTRL_FIELDS + 2 * w] = Math.min(np, (w + 1) * per * 4);
        c[CTRL_FIELDS + 2 * w + 1] = Math.min(np, (w + 2) * per * 4);
      }
      Atomics.store(c, 1, this.workers.length);
      Atomics.add(c, 0, 1);
      Atomics.notify(c, 0);
      this.ntFn(ap, bp, cp, m, np, kp, 0, 0, Math.min(np, per * 4));
      for (;;) {
        const left = Atomics.load(c, 1);
        if (left === 0) break;
        Atomics.wait(c, 1, left);
      }
    }
    const heap = this.f32;
    const base = cp / 4;
    for (let i = 0; i < m; i++) {
      const src = base + i * np, dst = i * n;
      if (accumulate) for (let j = 0; j < n; j++) out[dst + j] = out[dst + j]! + heap[src + j]!;
      else out.set(heap.subarray(src, src + n), dst);
    }
  }

  /** Bump allocation (bytes, 16-aligned); scratch is released by resetting `heapTop` after each call. */
  private alloc(floats: number): number {
    const p = this.heapTop;
    const end = p + ((floats * 4 + 15) & ~15);
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
