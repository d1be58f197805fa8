/**
 * Training throughput of the distillation trainer on SmolLM2-135M: training tokens/s (sequence tokens through
 * forward + LoRA backward, loss on the second half as in prompt+response samples) and peak RSS, per kernel
 * kind × threads × sequence length × parallel mode. Short runs; on a shared 2-core machine numbers are noisy — read
 * medians. Parallel modes with more than one thread: `kernels` splits every product of one sequence across the
 * threads; `sequences` trains one sequence per thread (`SequencePool`, as `prism distill` does by default), and
 * a rep is one group of `threads` sequences.
 *
 *   npx tsx bench/distill.ts [--lengths 64,256] [--threads 1,2] [--kernels js,wasm] [--parallel kernels,sequences] [--reps 2] [--warmup 1] [--json out.json]
 */
import { writeFile } from "node:fs/promises";
import os from "node:os";
import { parseArgs } from "node:util";
import { WasmKernels, createKernels } from "../src/distill/kernels/index.js";
import { loadStudentWeights } from "../src/distill/model/gguf-student.js";
import { LlamaStudent } from "../src/distill/model/llama.js";
import { initLora, shareLora, zerosLike } from "../src/distill/model/lora.js";
import type { DistillSample } from "../src/distill/train/dataset.js";
import { topKDistillLoss } from "../src/distill/train/kl-loss.js";
import { SequencePool } from "../src/distill/train/sequence-pool.js";
import { mulberry32 } from "../src/random.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    lengths: { type: "string", default: "64,256" },
    threads: { type: "string", default: String(os.availableParallelism()) },
    kernels: { type: "string", default: "wasm,js" },
    parallel: { type: "string", default: "kernels,sequences" },
    reps: { type: "string", default: "2" },
    /** Untimed steps before each row's timed reps (JIT, first touch of scratch memory, a worker's cold start). */
    warmup: { type: "string", default: "1" },
    json: { type: "string" },
  },
});

interface Row {
  kernels: string; threads: number; parallel: "kernels" | "sequences"; length: number; tokensPerSecond: number[]; medianTokensPerSecond: number; peakRssMb: number;
  /** Share of machine CPU time idle while this row ran (other processes' load shows up as a low share), and load avg. */
  idleShare: number; loadAvg: number;
}

/** Machine-wide idle CPU time since `from` as a share of all CPU time (os.cpus() counters). */
const cpuTimes = () => os.cpus().reduce((t, c) => ({ idle: t.idle + c.times.idle, total: t.total + c.times.idle + c.times.user + c.times.sys + c.times.nice + c.times.irq }), { idle: 0, total: 0 });

// Each mode computes on what `prism distill` gives it: plain arrays for one sequence at a time, shared memory
// (SharedArrayBuffers) for sequence workers.
const sequencesWanted = values.parallel.split(",").includes("sequences") && values.kernels.split(",").includes("wasm");
let weights = await loadStudentWeights(values.model);
const rng = mulberry32(1);
let lora = initLora(weights.shape, 16, 32, rng);
for (const l of lora.layers) if (l) for (const p of Object.values(l)) p.b.forEach((_, i, b) => (b[i] = (rng() - 0.5) * 0.01));
const K = 64;
const rows: Row[] = [];
/**
 * The process's RSS high-water mark (the kernel's ru_maxrss). A timer sampling memoryUsage() never fires while
 * a step computes synchronously, so it missed the step's own peak. Rows run in order, so a row shows at least
 * the peaks of the rows before it: run one mode per process to see that mode's own peak.
 */
const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
for (const kind of values.kernels.split(",") as ("js" | "wasm")[]) {
  for (const threads of values.threads.split(",").map(Number)) {
    if (threads > 1 && !values.parallel.split(",").includes("kernels")) continue;
    const kernels = await createKernels(kind, threads);
    const student = new LlamaStudent(weights, kernels);
    for (const length of values.lengths.split(",").map(Number)) {
      const tokens = Int32Array.from({ length }, () => Math.floor(rng() * weights.shape.vocab));
      const positions = Array.from({ length: Math.floor(length / 2) }, (_, i) => Math.floor(length / 2) - 1 + i);
      const ids = Uint32Array.from({ length: K }, () => Math.floor(rng() * weights.shape.vocab));
      const tl = Float32Array.from({ length: K }, () => rng() * 10);
      const grads = zerosLike(lora);
      const tps: number[] = [];
      const times0 = cpuTimes();
      for (let r = -Number(values.warmup); r < Number(values.reps); r++) {
        const t0 = performance.now();
        student.forwardBackward(tokens, lora, grads, positions, (_p, logits, g) => topKDistillLoss(logits, ids, tl, 2, g), {
          dropout: 0.05,
          rng: mulberry32(r + 1000),
        });
        if (r >= 0) tps.push(length / ((performance.now() - t0) / 1000));
        await new Promise((res) => setImmediate(res));
      }
      const sorted = [...tps].sort((a, b) => a - b);
      const times1 = cpuTimes();
      // Our own busy threads are not idle either: with T threads of 2 cores busy, the best possible share is 1 − T/cores.
      const idleShare = (times1.idle - times0.idle) / Math.max(1, times1.total - times0.total);
      const row: Row = {
        kernels: kernels.name, threads, parallel: "kernels", length, tokensPerSecond: tps, medianTokensPerSecond: sorted[Math.floor(sorted.length / 2)]!,
        peakRssMb: peakRssMb(), idleShare: Number(idleShare.toFixed(2)), loadAvg: Number(os.loadavg()[0]!.toFixed(1)),
      };
      rows.push(row);
      process.stderr.write(`${row.kernels} threads=${threads} len=${length}: ${row.medianTokensPerSecond.toFixed(1)} tok/s, RSS ${row.peakRssMb} MB\n`);
    }
    await kernels.dispose?.();
  }
}

/** One sample of random tokens with the loss on its second half and random top-K teacher rows. */
function randomSample(length: number, id: number): DistillSample {
  const tokens = Int32Array.from({ length }, () => Math.floor(rng() * weights.shape.vocab));
  const lossPositions = Array.from({ length: Math.floor(length / 2) }, (_, i) => Math.floor(length / 2) - 1 + i);
  return {
    id: `bench-${id}`, tokens, lossPositions, topK: K,
    teacherIds: Uint32Array.from({ length: lossPositions.length * K }, () => Math.floor(rng() * weights.shape.vocab)),
    teacherLogits: Float32Array.from({ length: lossPositions.length * K }, () => rng() * 10),
  };
}

if (sequencesWanted) {
  weights = await loadStudentWeights(values.model, { shared: true });
  lora = shareLora(lora);
  for (const threads of values.threads.split(",").map(Number).filter((t) => t > 1)) {
    const kernels = await WasmKernels.create(1);
    const student = new LlamaStudent(weights, kernels);
    const pool = await SequencePool.create(student, threads - 1);
    for (const length of values.lengths.split(",").map(Number)) {
      const grads = zerosLike(lora);
      const tps: number[] = [];
      const times0 = cpuTimes();
      for (let r = -Number(values.warmup); r < Number(values.reps); r++) {
        const jobs = Array.from({ length: threads }, (_, i) => ({ sample: randomSample(length, i), micro: (r + 1000) * threads + i }));
        const t0 = performance.now();
        await pool.run(jobs, lora, grads, { temperature: 2, dropout: 0.05, seed: 0 });
        if (r >= 0) tps.push((threads * length) / ((performance.now() - t0) / 1000));
        await new Promise((res) => setImmediate(res));
      }
      const times1 = cpuTimes();
      const sorted = [...tps].sort((a, b) => a - b);
      const idleShare = (times1.idle - times0.idle) / Math.max(1, times1.total - times0.total);
      const row: Row = {
        kernels: `${kernels.name} ×${threads} sequences`, threads, parallel: "sequences", length, tokensPerSecond: tps,
        medianTokensPerSecond: sorted[Math.floor(sorted.length / 2)]!, peakRssMb: peakRssMb(),
        idleShare: Number(idleShare.toFixed(2)), loadAvg: Number(os.loadavg()[0]!.toFixed(1)),
      };
      rows.push(row);
      process.stderr.write(`${row.kernels} threads=${threads} len=${length}: ${row.medianTokensPerSecond.toFixed(1)} tok/s, RSS ${row.peakRssMb} MB\n`);
    }
    await pool.close();
    await kernels.dispose();
  }
}
const result = { model: values.model, machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model }, note: "shared noisy 2-core machine; short runs", rows };
console.table(rows.map((r) => ({
  kernels: r.kernels, threads: r.threads, parallel: r.parallel, length: r.length, "tok/s": r.medianTokensPerSecond.toFixed(1),
  "each rep": r.tokensPerSecond.map((t) => t.toFixed(1)).join(" / "), "peak RSS MB (so far)": r.peakRssMb, idle: r.idleShare, load: r.loadAvg,
})));
if (values.json) await writeFile(values.json, JSON.stringify(result, null, 2) + "\n");
