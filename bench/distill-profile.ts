/**
 * Where one training step's time goes: every matmul call is timed per (layout, M×N×K) through a wrapping
 * kernel set, and the step's wall time is split into matmul time vs everything else (element-wise ops,
 * attention softmax, copies, loss). Random weights of the model's shape (read from the GGUF header only), so it
 * starts in a second.
 *
 *   npx tsx bench/distill-profile.ts [--length 256] [--threads 2] [--reps 2] [--top 15]
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { createKernels } from "../src/distill/kernels/index.js";
import type { MatmulKernels } from "../src/distill/kernels/matmul.js";
import { llamaShapeOf } from "../src/distill/model/gguf-student.js";
import { LlamaStudent } from "../src/distill/model/llama.js";
import { initLora, zerosLike } from "../src/distill/model/lora.js";
import { randomStudentWeights } from "../src/distill/model/weights.js";
import { topKDistillLoss } from "../src/distill/train/kl-loss.js";
import { openGguf } from "../src/gguf/index.js";
import { mulberry32 } from "../src/random.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    length: { type: "string", default: "256" },
    threads: { type: "string", default: String(os.availableParallelism()) },
    reps: { type: "string", default: "2" },
    top: { type: "string", default: "15" },
  },
});

interface OpStat { calls: number; ms: number; macs: number }
const stats = new Map<string, OpStat>();
let matmulMs = 0;

/** Times every call of the wrapped kernels by layout and shape. */
function timed(inner: MatmulKernels): MatmulKernels {
  const wrap = (kind: "nt" | "nn" | "tn") =>
    (a: Float32Array, b: Float32Array, out: Float32Array, m: number, n: number, k: number, accumulate: boolean) => {
      const t0 = performance.now();
      inner[kind](a, b, out, m, n, k, accumulate);
      const ms = performance.now() - t0;
      matmulMs += ms;
      const key = `${kind} ${m}x${n}x${k}`;
      const s = stats.get(key) ?? { calls: 0, ms: 0, macs: 0 };
      s.calls++; s.ms += ms; s.macs += m * n * k;
      stats.set(key, s);
    };
  return {
    name: `timed(${inner.name})`,
    nt: wrap("nt"), nn: wrap("nn"), tn: wrap("tn"),
    ...(inner.pinFrozen ? { pinFrozen: inner.pinFrozen.bind(inner) } : {}),
    ...(inner.dispose ? { dispose: inner.dispose.bind(inner) } : {}),
  };
}

const file = await openGguf(values.model);
const shape = llamaShapeOf(file);
await file.close();
const rng = mulberry32(1);
const weights = randomStudentWeights(shape, rng);
const inner = await createKernels("wasm", Number(values.threads));
const student = new LlamaStudent(weights, timed(inner));
const lora = initLora(shape, 16, 32, rng);
const grads = zerosLike(lora);
const T = Number(values.length);
const tokens = Int32Array.from({ length: T }, () => Math.floor(rng() * shape.vocab));
const positions = Array.from({ length: Math.floor(T / 2) }, (_, i) => Math.floor(T / 2) - 1 + i);
const ids = Uint32Array.from({ length: 64 }, () => Math.floor(rng() * shape.vocab));
const tl = Float32Array.from({ length: 64 }, () => rng() * 10);
let lossMs = 0;
const step = () =>
  student.forwardBackward(tokens, lora, grads, positions, (_p, logits, g) => {
    const t0 = performance.now();
    const l = topKDistillLoss(logits, ids, tl, 2, g);
    lossMs += performance.now() - t0;
    return l;
  }, { dropout: 0.05, rng: mulberry32(7) });

step(); // warm-up (JIT, scratch growth)
stats.clear(); matmulMs = 0; lossMs = 0;
const reps = Number(values.reps);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
for (let r = 0; r < reps; r++) step();
const wall = (performance.now() - t0) / reps;
const cpu = process.cpuUsage(cpu0);
// CPU time of all threads per step: on a contended machine it tracks what an idle one would take (1 thread).
const cpuMs = (cpu.user + cpu.system) / 1000 / reps;
matmulMs /= reps; lossMs /= reps;
await inner.dispose?.();

const rows = [...stats.entries()].map(([op, s]) => ({
  op, calls: s.calls / reps, "ms/step": +(s.ms / reps).toFixed(1), "GFLOP/s": +((2 * s.macs) / s.ms / 1e6).toFixed(1),
})).sort((a, b) => b["ms/step"] - a["ms/step"]);
console.log(`${inner.name}, T=${T}: step ${wall.toFixed(0)} ms = ${(T / (wall / 1000)).toFixed(1)} tok/s; ` +
  `matmuls ${matmulMs.toFixed(0)} ms (${((100 * matmulMs) / wall).toFixed(0)}%), loss ${lossMs.toFixed(0)} ms, ` +
  `rest ${(wall - matmulMs - lossMs).toFixed(0)} ms; CPU ${cpuMs.toFixed(0)} ms/step = ${(T / (cpuMs / 1000)).toFixed(1)} tok/CPU-s; load avg ${os.loadavg()[0]!.toFixed(1)}`);
console.table(rows.slice(0, Number(values.top)));
