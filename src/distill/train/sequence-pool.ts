/**
 * Sequence-level parallelism: the micro-steps of one accumulation group run on several threads at once, one
 * sequence per thread (the calling thread and `workers` worker threads), each with a one-thread kernel set, with
 * at most `maxTokensInFlight` tokens at a time (activation memory grows with them).
 * Everything a step does (products, softmax, element-wise work, copies, GC) then runs in parallel, not only the
 * products. The workers share the owner's weights (SharedArrayBuffers) and pinned wasm memory, so memory grows
 * by one scratch arena and one set of activations per worker, not by a copy of the model.
 *
 * Each sample's loss and gradients are computed exactly as on the calling thread (`runMicroStep`); only the order
 * in which the group's gradients are summed differs (per thread, then thread by thread), a last-bit difference.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { DistillError } from "../../errors.js";
import { WasmKernels, type WasmKernelShare } from "../kernels/wasm.js";
import type { FusedLayerWeights, LlamaStudent } from "../model/llama.js";
import { type LoraParams, isSharedLora, loraArrays, shareLora, zerosLike } from "../model/lora.js";
import type { StudentWeights } from "../model/weights.js";
import type { DistillSample } from "./dataset.js";
import { type MicroStepResult, type MicroStepSettings, runMicroStep, sampleKl } from "./micro-step.js";

export interface SequenceWorkerData {
  readonly share: WasmKernelShare;
  readonly weights: StudentWeights;
  readonly fused: readonly FusedLayerWeights[];
  readonly attentionBlock: number;
}

export interface MicroStepJob {
  readonly sample: DistillSample;
  /** Global micro-step index (seeds the dropout mask). */
  readonly micro: number;
}

export type SequenceJobMessage =
  | {
      readonly kind: "train";
      readonly id: number;
      readonly steps: readonly MicroStepJob[];
      readonly lora: LoraParams;
      /** The worker's own gradient arrays (shared memory); the group's first message has them zeroed first. */
      readonly grads: LoraParams;
      readonly settings: MicroStepSettings;
      readonly zero: boolean;
    }
  | {
      readonly kind: "kl";
      readonly id: number;
      readonly samples: readonly DistillSample[];
      readonly lora: LoraParams | null;
      readonly temperature: number;
    };

type JobWithoutId = Omit<Extract<SequenceJobMessage, { kind: "train" }>, "id"> | Omit<Extract<SequenceJobMessage, { kind: "kl" }>, "id">;

export type SequenceReply =
  | { readonly type: "ready" }
  | { readonly type: "done"; readonly id: number; readonly results: readonly MicroStepResult[] }
  | { readonly type: "failed"; readonly id: number; readonly message: string };

export interface SequencePoolOptions {
  /** Scratch arena per thread in the shared wasm memory (bytes). */
  readonly arenaBytes?: number;
  /** Most sequence tokens trained at the same time (bounds activation memory); see `scheduleRounds`. */
  readonly maxTokensInFlight?: number;
}

/** The trainer's default maxLength: never more activations at once than one such sequence. */
const DEFAULT_MAX_TOKENS_IN_FLIGHT = 1024;

/** Scratch arena per thread in the shared wasm memory: the largest per-call scratch at 1 024 tokens is ~20 MB. */
const DEFAULT_ARENA_BYTES = 256 * 2 ** 20;

interface Pending {
  resolve(results: readonly MicroStepResult[]): void;
  reject(err: Error): void;
}

/**
 * The worker next to this module: `sequence-worker.js` when built; under tsx or vitest the `.ts` source, loaded
 * through tsx's `tsImport` (Node 20 workers do not inherit the parent's module loader hooks).
 */
function workerEntry(): { code: string | URL; eval: boolean } {
  const self = import.meta.url;
  if (!self.endsWith(".ts")) return { code: new URL("./sequence-worker.js", self), eval: false };
  // The ESM build of tsx's API, resolved through its package exports (require.resolve would pick the CJS build).
  const pkgPath = createRequire(self).resolve("tsx/package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { exports: Record<string, { import: { default: string } }> };
  const api = new URL(pkg.exports["./esm/api"]!.import.default, pathToFileURL(pkgPath)).href;
  const entry = new URL("./sequence-worker.ts", self).href;
  const code = `import(${JSON.stringify(api)}).then(({ tsImport }) => tsImport(${JSON.stringify(entry)}, ${JSON.stringify(self)}));`;
  return { code, eval: true };
}

/**
 * Groups jobs of these sequence lengths into rounds that run at the same time: at most `threads` jobs and at most
 * `maxTokensInFlight` tokens per round (a longer job runs alone). Activation memory grows with the tokens in
 * flight, so this keeps it at what one sequence of that length needs in the kernel-split mode. First fit
 * decreasing: each round starts with the longest job left and adds the longest that still fit, so long jobs
 * pair with the longest partners the cap allows instead of running alone. A pure function of the lengths (ties
 * by index), so the rounds, and the order gradients are summed in, are deterministic.
 */
export function scheduleRounds(lengths: readonly number[], threads: number, maxTokensInFlight: number): number[][] {
  const left = lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const rounds: number[][] = [];
  while (left.length > 0) {
    const round = left.splice(0, 1);
    let tokens = lengths[round[0]!]!;
    for (let j = 0; j < left.length && round.length < threads; ) {
      const length = lengths[left[j]!]!;
      if (tokens + length <= maxTokensInFlight) {
        round.push(left.splice(j, 1)[0]!);
        tokens += length;
      } else {
        j++;
      }
    }
    rounds.push(round);
  }
  return rounds;
}

class SequenceWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | null = null;
  /** Gradient arrays this worker accumulates into, laid out like the LoRA they were made for. */
  grads: LoraParams | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on("message", (m: SequenceReply) => {
      if (m.type === "ready") return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.type === "done") p?.resolve(m.results);
      else p?.reject(new DistillError(`sequence worker: ${m.message}`));
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on("error", (err) => fail(new DistillError(`sequence worker crashed: ${err.message}`)));
    worker.on("exit", (code) => fail(new DistillError(`sequence worker exited (code ${code})`)));
  }

  static async start(data: SequenceWorkerData): Promise<SequenceWorker> {
    const entry = workerEntry();
    const worker = new Worker(entry.code, { workerData: data, eval: entry.eval });
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`exited with code ${code} before it was ready`));
      worker.once("message", (m: SequenceReply) => {
        if (m.type !== "ready") return;
        worker.off("error", reject);
        worker.off("exit", onExit);
        resolve();
      });
      worker.once("error", reject);
      worker.once("exit", onExit);
    });
    return new SequenceWorker(worker);
  }

  run(msg: JobWithoutId): Promise<readonly MicroStepResult[]> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }

  async terminate(): Promise<void> {
    this.worker.removeAllListeners("exit");
    await this.worker.terminate();
  }
}

/** A sample with its own compact buffers: structured cloning a subarray would copy the whole teacher file. */
function compactSample(s: DistillSample): DistillSample {
  return {
    id: s.id,
    tokens: s.tokens.slice(),
    lossPositions: s.lossPositions,
    topK: s.topK,
    teacherIds: s.teacherIds.slice(),
    teacherLogits: s.teacherLogits.slice(),
    ...(s.weight !== undefined ? { weight: s.weight } : {}),
  };
}

export class SequencePool {
  private constructor(
    private readonly student: LlamaStudent,
    private readonly workers: readonly SequenceWorker[],
    private readonly maxTokensInFlight: number,
  ) {}

  /**
   * Starts `workers` worker threads next to `student`, which must compute with one-thread wasm kernels
   * (`WasmKernels.create(1)`) over weights in shared memory (`shareStudentWeights`).
   */
  static async create(student: LlamaStudent, workers: number, options: SequencePoolOptions = {}): Promise<SequencePool> {
    const arenaBytes = options.arenaBytes ?? DEFAULT_ARENA_BYTES;
    const kernels = student.kernels;
    if (!(kernels instanceof WasmKernels)) throw new DistillError("sequence parallelism needs the wasm kernels (--kernels wasm)");
    if (!(student.weights.tokenEmbd.buffer instanceof SharedArrayBuffer)) {
      throw new DistillError("sequence parallelism needs the student weights in shared memory (shareStudentWeights)");
    }
    const shares = kernels.shareArenas(workers, arenaBytes);
    const started = await Promise.allSettled(
      shares.map((share) =>
        SequenceWorker.start({ share, weights: student.weights, fused: student.fusedWeights, attentionBlock: student.attentionBlock }),
      ),
    );
    const ok = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failed = started.find((s) => s.status === "rejected");
    if (failed !== undefined) {
      await Promise.all(ok.map((w) => w.terminate()));
      throw new DistillError(`could not start a sequence worker: ${(failed.reason as Error).message}`);
    }
    return new SequencePool(student, ok, options.maxTokensInFlight ?? DEFAULT_MAX_TOKENS_IN_FLIGHT);
  }

  /** Sequences computed at once: the calling thread and each worker. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Runs the micro-steps in rounds (`scheduleRounds`): in each round the calling thread takes the first job and
   * worker w the (w+1)-th. Adds all their LoRA gradients into `grads`. `lora` must live in shared memory
   * (`shareLora`). Returns each job's result, in job order.
   */
  async run(jobs: readonly MicroStepJob[], lora: LoraParams, grads: LoraParams, settings: MicroStepSettings): Promise<MicroStepResult[]> {
    if (!isSharedLora(lora)) throw new DistillError("the LoRA parameters must be in shared memory (shareLora) for sequence workers");
    const results: MicroStepResult[] = new Array<MicroStepResult>(jobs.length);
    const used = new Set<number>();
    for (const round of scheduleRounds(jobs.map((j) => j.sample.tokens.length), this.threads, this.maxTokensInFlight)) {
      const [own, ...rest] = round;
      const remote = rest.map((ji, wi) => {
        const w = this.workers[wi]!;
        const first = !used.has(wi);
        used.add(wi);
        if (first && (w.grads === null || !sameLayout(w.grads, lora))) w.grads = shareLora(zerosLike(lora));
        const job = jobs[ji]!;
        return w.run({ kind: "train", steps: [{ sample: compactSample(job.sample), micro: job.micro }], lora, grads: w.grads!, settings, zero: first });
      });
      // The workers are already computing; the calling thread takes its job meanwhile.
      try {
        results[own!] = runMicroStep(this.student, jobs[own!]!.sample, jobs[own!]!.micro, lora, grads, settings);
      } catch (err) {
        await Promise.allSettled(remote); // no worker left computing into these buffers, no unhandled rejection
        throw err;
      }
      const done = await Promise.all(remote);
      rest.forEach((ji, k) => (results[ji] = done[k]![0]!));
    }
    const target = loraArrays(grads);
    this.workers.forEach((w, wi) => {
      if (!used.has(wi) || w.grads === null) return;
      loraArrays(w.grads).forEach((g, a) => {
        const t = target[a]!;
        for (let i = 0; i < g.length; i++) t[i] = t[i]! + g[i]!;
      });
    });
    return results;
  }

  /** Each sample's KL·T² to its teacher (summed over its positions), spread over the threads like `run`. */
  async kl(samples: readonly DistillSample[], lora: LoraParams | null, temperature: number): Promise<MicroStepResult[]> {
    if (lora !== null && !isSharedLora(lora)) throw new DistillError("the LoRA parameters must be in shared memory (shareLora) for sequence workers");
    const n = this.threads;
    const theirs = this.workers.map((w, wi) => {
      const mine = samples.filter((_, i) => i % n === wi + 1).map(compactSample);
      return mine.length === 0 ? Promise.resolve([] as readonly MicroStepResult[]) : w.run({ kind: "kl", samples: mine, lora, temperature });
    });
    let own: MicroStepResult[];
    try {
      own = samples.filter((_, i) => i % n === 0).map((s) => sampleKl(this.student, lora, s, temperature));
    } catch (err) {
      await Promise.allSettled(theirs);
      throw err;
    }
    const remote = await Promise.all(theirs);
    return samples.map((_, i) => (i % n === 0 ? own[i / n]! : remote[(i % n) - 1]![Math.floor(i / n)]!));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function sameLayout(a: LoraParams, b: LoraParams): boolean {
  const x = loraArrays(a), y = loraArrays(b);
  return a.rank === b.rank && x.length === y.length && x.every((arr, i) => arr.length === y[i]!.length);
}
