/**
 * `prism gate eval --data FILE.jsonl [--model M] [--adapters DIR]`: routes every prompt of a labelled set
 * (`{id, prompt, intent[, source]}` lines) through the PRISM router with the packs in DIR, and prints
 * route shares per intent and per source and decision latency p50/p95. The last line is one JSON object.
 */
import os from "node:os";
import { resolve } from "node:path";
import { SingleBar, Presets } from "cli-progress";
import { Option, type Command } from "commander";
import { LlamaEngine } from "../../engine/llama-engine.js";
import { readIntentSamples, sampleHalf, sampleHalfSchema, type SampleHalf } from "../../gate/dataset.js";
import { evaluateRouting, formatShareTable } from "../../gate/eval.js";
import { createPrismRouting } from "../../routing/stack.js";
import { commandGroup } from "../command-group.js";
import { MODEL_FLAGS, MODEL_HELP, resolveModelPath } from "../options.js";

export function register(program: Command): void {
  const gate = commandGroup(program, "gate", "the PRISM gate");
  gate
    .command("eval")
    .description("route a labelled prompt set and report route shares per intent/source and decision latency")
    .requiredOption("--data <file>", "JSONL with {id, prompt, intent[, source]} lines")
    .option(MODEL_FLAGS, MODEL_HELP, "default")
    .option("--adapters <dir>", "adapter packs folder", "adapters")
    .option("--limit <n>", "only the first N prompts", (v) => Number.parseInt(v, 10))
    .addOption(
      new Option("--half <half>", "only one fixed half of the set, by a hash of the prompt: decide on tune, confirm on check").choices(
        sampleHalfSchema.options,
      ),
    )
    .action(async (opts: { data: string; model: string; adapters: string; limit?: number; half?: SampleHalf }) => {
      const modelPath = await resolveModelPath(opts.model);
      const all = await readIntentSamples(resolve(opts.data));
      const samples = all.filter((s) => opts.half === undefined || sampleHalf(s) === opts.half).slice(0, opts.limit ?? Infinity);
      const engine = new LlamaEngine();
      await engine.load({
        modelPath,
        threads: os.availableParallelism(),
        contextSize: 2048,
        sequencesPerContext: 1,
        gpu: false,
        maxQueue: 1,
        queueTimeoutMs: 60_000,
      });
      const routing = await createPrismRouting({ engine, modelPath, adaptersDir: resolve(opts.adapters), servedName: "prism" });
      try {
        for (const r of routing.refused) process.stderr.write(`refused pack ${r.pack}: ${r.problems.join("; ")}\n`);
        const packs = routing.registry.snapshot().map((p) => p.name);
        process.stderr.write(`packs: ${packs.join(", ") || "(none: every prompt goes to base)"}\n`);
        const bar = new SingleBar({ stream: process.stderr, noTTYOutput: false, format: "gate eval [{bar}] {value}/{total} eta {eta}s" }, Presets.shades_classic);
        if (process.stderr.isTTY) bar.start(samples.length, 0);
        const report = await evaluateRouting(routing.router, samples, { model: "prism", onProgress: (n) => process.stderr.isTTY && bar.update(n) });
        if (process.stderr.isTTY) bar.stop();
        process.stdout.write(`${formatShareTable("intent", report.byIntent)}\n\n${formatShareTable("source", report.bySource)}\n\n`);
        process.stdout.write(`decision latency: p50 ${report.latencyMs.p50.toFixed(3)} ms, p95 ${report.latencyMs.p95.toFixed(3)} ms\n`);
        process.stdout.write(`${JSON.stringify({ data: opts.data, half: opts.half ?? "all", model: opts.model, packs, ...report })}\n`);
      } finally {
        await routing.close();
        await engine.dispose();
      }
    });
}
