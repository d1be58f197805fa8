/**
 * `prism distill --pack adapters/NAME [--data DIR] [--model M] [--steps N | --epochs E] [--seed S] ...`:
 * trains the pack's persona LoRA from the bootstrap's distill set and teacher signal, writes `lora.gguf` into
 * the pack and switches its manifest to `mode: "lora"`. Ctrl-C writes a checkpoint; rerunning resumes.
 */
import os from "node:os";
import { resolve } from "node:path";
import { Presets, SingleBar } from "cli-progress";
import { type Command, InvalidArgumentError } from "commander";
import { createKernels } from "../../distill/kernels/index.js";
import { runDistill } from "../../distill/run.js";
import { DistillError } from "../../errors.js";
import { MODEL_FLAGS, MODEL_HELP, resolveModelPath, positiveInt, nonNegativeInt, positiveNumber } from "../options.js";

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a number ≥ 0");
  return n;
}

function heldOutFraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 0.5) throw new InvalidArgumentError("must be a number between 0 and 0.5");
  return n;
}

interface DistillCliOptions {
  pack: string;
  data?: string;
  model: string;
  steps?: number;
  epochs?: number;
  seed: number;
  rank?: number;
  alpha?: number;
  lr?: number;
  accumulation?: number;
  maxLength?: number;
  checkpointEvery?: number;
  threads: number;
  kernels: "auto" | "wasm" | "js";
  f16?: boolean;
  retainWeight?: number;
  heldOut?: number;
  parallel: "auto" | "kernels" | "sequences";
}

export function register(program: Command): void {
  program
    .command("distill")
    .description("train the pack's persona LoRA by distillation from the bootstrap teacher signal (CPU, resumable)")
    .requiredOption("--pack <dir>", "adapter pack folder written by 'prism bootstrap' (adapters/NAME)")
    .option("--data <dir>", "folder with distill.jsonl + teacher.prtk (default: the pack)")
    .option(MODEL_FLAGS, MODEL_HELP, "default")
    .option("--steps <n>", "optimizer steps (default: from --epochs)", positiveInt)
    .option("--epochs <e>", "passes over the training samples (default 10)", positiveNumber)
    .option("--seed <s>", "seed for initialisation, sample order and dropout", nonNegativeInt, 0)
    .option("--rank <r>", "LoRA rank (default 16)", positiveInt)
    .option("--alpha <a>", "LoRA alpha (default 32)", positiveNumber)
    .option("--lr <lr>", "peak learning rate (default 2e-4)", positiveNumber)
    .option("--accumulation <n>", "gradient accumulation steps (default 16)", positiveInt)
    .option("--max-length <n>", "max tokens per sample (default 1024)", positiveInt)
    .option("--checkpoint-every <k>", "checkpoint every K steps (default 10)", positiveInt)
    .option("--threads <n>", "compute threads", positiveInt, os.availableParallelism())
    .option("--kernels <kind>", "matmul kernels: auto | wasm | js", "auto")
    .option("--f16", "write the adapter as F16 (default F32)")
    .option("--retain-weight <w>", "weight of the retain term on retain.jsonl (KL to the base model; default 0 = off)", nonNegativeNumber)
    .option(
      "--parallel <mode>",
      "how threads share the work: sequences (one sequence of an accumulation group per thread), kernels (every product split across threads), auto (sequences with wasm kernels, more than one thread and accumulation > 1)",
      "auto",
    )
    .option("--held-out <fraction>", "share of distill samples held out for the KL before/after (0…0.5, default 0.1)", heldOutFraction)
    .action(async (opts: DistillCliOptions) => {
      const modelPath = await resolveModelPath(opts.model);
      if (!["auto", "wasm", "js"].includes(opts.kernels)) throw new DistillError(`--kernels must be auto, wasm or js`);
      if (!["auto", "kernels", "sequences"].includes(opts.parallel)) throw new DistillError(`--parallel must be auto, kernels or sequences`);
      const abort = new AbortController();
      const onSigint = () => {
        process.stderr.write("\nstopping after this step; a checkpoint is written and a rerun resumes\n");
        abort.abort();
      };
      process.once("SIGINT", onSigint);
      const bar = new SingleBar(
        { format: "distill |{bar}| step {value}/{total} | loss {loss} | {tps} tok/s | ETA {eta_formatted}", hideCursor: true },
        Presets.shades_classic,
      );
      const sequences =
        opts.threads > 1 &&
        opts.kernels !== "js" &&
        (opts.parallel === "sequences" || (opts.parallel === "auto" && (opts.accumulation ?? 16) > 1));
      if (opts.parallel === "sequences" && !sequences) throw new DistillError("--parallel sequences needs --threads > 1 and wasm kernels");
      // Sequence parallelism: one kernel thread per sequence, threads − 1 sequence workers next to this thread.
      const kernels = await createKernels(sequences ? "wasm" : opts.kernels, sequences ? 1 : opts.threads);
      let started = false;
      try {
        const result = await runDistill({
          packDir: resolve(opts.pack),
          ...(opts.data !== undefined ? { dataDir: resolve(opts.data) } : {}),
          modelPath,
          kernels,
          threads: opts.threads,
          ...(sequences ? { sequenceWorkers: opts.threads - 1 } : {}),
          signal: abort.signal,
          config: {
            seed: opts.seed,
            ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
            ...(opts.epochs !== undefined ? { epochs: opts.epochs } : {}),
            ...(opts.rank !== undefined ? { rank: opts.rank } : {}),
            ...(opts.alpha !== undefined ? { alpha: opts.alpha } : {}),
            ...(opts.lr !== undefined ? { learningRate: opts.lr } : {}),
            ...(opts.accumulation !== undefined ? { accumulation: opts.accumulation } : {}),
            ...(opts.maxLength !== undefined ? { maxLength: opts.maxLength } : {}),
            ...(opts.checkpointEvery !== undefined ? { checkpointEvery: opts.checkpointEvery } : {}),
            ...(opts.f16 ? { outputType: "f16" as const } : {}),
            ...(opts.retainWeight !== undefined ? { retainWeight: opts.retainWeight } : {}),
            ...(opts.heldOut !== undefined ? { heldOutFraction: opts.heldOut } : {}),
          },
          onStage: (m) => process.stderr.write(`${m}\n`),
          onProgress: (p) => {
            if (!started) {
              bar.start(p.totalSteps, p.step - 1, { loss: "-", tps: "-" });
              started = true;
            }
            bar.update(p.step, { loss: p.loss.toFixed(4), tps: p.tokensPerSecond.toFixed(1) });
          },
        });
        if (started) bar.stop();
        if (result.interrupted) {
          process.stderr.write(`interrupted at step ${result.steps}/${result.totalSteps}; rerun the same command to resume\n`);
          process.exitCode = 130;
          return;
        }
        const kl = (v: number | null) => (v === null ? "n/a" : v.toFixed(4));
        process.stdout.write(
          `wrote ${result.loraPath}\n` +
            `steps ${result.steps} (resumed from ${result.resumedFrom}), samples train ${result.samples.train} / held-out ${result.samples.heldOut} / dropped ${result.samples.dropped}\n` +
            `held-out KL·T² ${kl(result.heldOutKlBefore)} → ${kl(result.heldOutKlAfter)}, ${result.tokensPerSecond.toFixed(1)} training tokens/s\n` +
            (result.retainKlBefore !== null ? `retain samples: KL·T² to the base model ${kl(result.retainKlBefore)} → ${kl(result.retainKlAfter)}\n` : ""),
        );
      } finally {
        if (started) bar.stop();
        process.off("SIGINT", onSigint);
        await kernels.dispose?.();
      }
    });
}
