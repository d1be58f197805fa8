/**
 * `prism bootstrap --model M --out adapters/NAME [--personas DIR | --domains LIST] [--queries N] [--seed S] [--concurrency K]`
 * Runs the PRISM bootstrap with progress bars; Ctrl-C stops between records, rerunning continues.
 */
import os from "node:os";
import { basename, resolve } from "node:path";
import { MultiBar, Presets, type SingleBar } from "cli-progress";
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { baseModelSpecOf, describeServedModel } from "../../adapters/served-model.js";
import { packNameSchema } from "../../adapters/manifest.js";
import { tokenEmbeddingFeatures } from "../../bootstrap/gate-features.js";
import { LlamaBootstrapModel } from "../../bootstrap/llama-model.js";
import { judgeBiasSchema, judgeModeSchema, labelSchemeSchema } from "../../bootstrap/options.js";
import { builtinPersonas, loadPersonaDir, parseDomains } from "../../bootstrap/personas/load.js";
import { runBootstrap, type PersonaSource } from "../../bootstrap/pipeline.js";
import type { StageProgress } from "../../bootstrap/stage-runner.js";
import { BootstrapError } from "../../errors.js";
import { MODEL_FLAGS, MODEL_HELP, resolveModelPath, positiveInt, nonNegativeInt } from "../options.js";

/** One bar per stage with counts and ETA; nothing when stderr is not a terminal. */
export function cliProgress(): StageProgress & { close(): void } {
  if (!process.stderr.isTTY) {
    return {
      start: (stage, total, done) => process.stderr.write(`[bootstrap] ${stage}: ${done}/${total} done, running the rest\n`),
      increment: () => {},
      stop: (stage) => process.stderr.write(`[bootstrap] ${stage}: stopped\n`),
      close: () => {},
    };
  }
  const multi = new MultiBar(
    { format: " {stage} [{bar}] {value}/{total} | {percentage}% | ETA {eta_formatted} | {resumed} resumed", hideCursor: true, clearOnComplete: false },
    Presets.shades_classic,
  );
  const bars = new Map<string, SingleBar>();
  return {
    start: (stage, total, done) => bars.set(stage, multi.create(total, done, { stage: stage.padEnd(9), resumed: done })),
    increment: (stage) => bars.get(stage)?.increment(),
    stop: (stage) => bars.get(stage)?.stop(),
    close: () => multi.stop(),
  };
}

function unitInterval(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError("must be a number from 0 to 1");
  return n;
}

interface BootstrapCliOptions {
  model: string;
  out: string;
  runDir?: string;
  personas?: string;
  domains?: string;
  queries: number;
  knowledge?: number;
  seed: number;
  concurrency: number;
  answerTokens: number;
  threads: number;
  labels: string;
  judge: string;
  judgeMargin: number;
  judgeBias: string;
  judgedPerPersona?: number;
  packPersona?: string;
  gateFolds: number;
  verdictWeight: "reliability" | number;
  gateClasses: "binary" | "intent";
}

export function register(program: Command): void {
  program
    .command("bootstrap")
    .description("PRISM bootstrap: self-generated queries, self-judged persona answers, teacher logits, gate head, adapter pack")
    .option(MODEL_FLAGS, MODEL_HELP, "default")
    .requiredOption("--out <dir>", "pack folder to write, e.g. adapters/my-pack (its name is the folder name)")
    .option("--run-dir <dir>", "stage files (resumable); default <out>/run")
    .addOption(new Option("--personas <dir>", "folder of persona .yaml/.json files").conflicts("domains"))
    .option("--domains <list>", 'comma-separated domain names; the model writes the personas ("tax law,poetry")')
    .option("--queries <n>", "curator generations per persona", positiveInt, 50)
    .option("--knowledge <n>", "knowledge-style contrast queries (default 3 × --queries)", nonNegativeInt)
    .option("--seed <s>", "run seed", nonNegativeInt, 0)
    // 8: decode throughput still grows from 4 to 8 sequences here (SmolLM2, 2 threads: ~82 → ~100 tok/s).
    .option("--concurrency <k>", "simultaneous generations (engine sequences)", positiveInt, 8)
    .option("--answer-tokens <n>", "max tokens per answer", positiveInt, 512)
    .option("--threads <n>", "compute threads (default: all cores; 1 is faster on a machine busy with other work)", positiveInt, os.availableParallelism())
    .addOption(new Option("--labels <scheme>", "gate label scheme").choices(labelSchemeSchema.options).default("combined"))
    .addOption(
      new Option("--judge <kind>", "self-judge: logit (verdict probabilities, position bias removed) or text (published A/B/TIE reply)")
        .choices(judgeModeSchema.options)
        .default("logit"),
    )
    .option("--judged-per-persona <n>", "judging budget: answer and judge only the first N queries of each persona (default: all)", positiveInt)
    .option("--judge-margin <p>", "logit judge: lead the persona needs in both orders (0..1)", unitInterval, 0)
    .addOption(
      new Option("--judge-bias <scope>", "logit judge: position bias removed, one for the run or each pair's own")
        .choices(judgeBiasSchema.options)
        .default("run"),
    )
    .option("--pack-persona <name>", "persona the persona-prompt pack injects (default: most distill wins)")
    .option(
      "--verdict-weight <w>",
      "combined labels: trust in a verdict that contradicts the persona's intent, 0..1 or 'reliability' (the judge's measured order agreement)",
      (v: string) => (v === "reliability" ? v : unitInterval(v)),
      "reliability",
    )
    .addOption(
      new Option("--gate-classes <classes>", "gate head classes: intent (generative / safety / discriminative) or binary (apply / retain)")
        .choices(["intent", "binary"])
        .default("intent"),
    )
    .option("--gate-folds <k>", "gate heads trained on k stratified folds, logits averaged (1: one head, 20% held out)", positiveInt, 5)
    .action(async (opts: BootstrapCliOptions) => {
      const modelPath = await resolveModelPath(opts.model);
      const outDir = resolve(opts.out);
      const packName = packNameSchema.safeParse(basename(outDir));
      if (!packName.success) throw new BootstrapError(`--out ${opts.out}: pack folder name ${packName.error.issues[0]?.message}`);
      const personas: PersonaSource = opts.domains
        ? { kind: "domains", domains: parseDomains(opts.domains) }
        : { kind: "personas", personas: opts.personas ? await loadPersonaDir(opts.personas) : builtinPersonas() };

      const abort = new AbortController();
      let interrupts = 0;
      const onSigint = () => {
        if (++interrupts > 1) process.exit(130);
        process.stderr.write("\n[bootstrap] stopping after the records in flight; rerun the same command to continue (Ctrl-C again to quit now)\n");
        abort.abort(new BootstrapError("interrupted"));
      };
      process.on("SIGINT", onSigint);
      const progress = cliProgress();
      const model = await LlamaBootstrapModel.load({ modelPath, parallelism: opts.concurrency, threads: opts.threads });
      try {
        const served = await describeServedModel(modelPath);
        const features = await tokenEmbeddingFeatures(modelPath, model);
        const result = await runBootstrap(
          { model, features, baseModel: baseModelSpecOf(served), progress, signal: abort.signal },
          {
            outDir,
            packName: packName.data,
            runDir: opts.runDir ? resolve(opts.runDir) : undefined,
            personas,
            options: {
              seed: opts.seed,
              queriesPerPersona: opts.queries,
              knowledgeQueries: opts.knowledge ?? null,
              answerMaxTokens: opts.answerTokens,
              labels: labelSchemeSchema.parse(opts.labels),
              judge: judgeModeSchema.parse(opts.judge),
              judgeMargin: opts.judgeMargin,
              judgeBias: judgeBiasSchema.parse(opts.judgeBias),
              judgedPerPersona: opts.judgedPerPersona ?? null,
              packPersona: opts.packPersona ?? null,
              gateFolds: opts.gateFolds,
              verdictWeight: opts.verdictWeight,
              gateClasses: opts.gateClasses,
            },
          },
        );
        progress.close();
        const t = result.report.totals;
        const j = result.report.judge;
        process.stdout.write(
          `pack written: ${outDir} (persona-prompt mode)\n` +
            `queries kept ${t.queriesKept}/${t.queriesGenerated}, distill ${t.distill} / retain ${t.retain} (${j.mode} judge; ` +
            `text rule ${j.outcomes.text.distill} / ${j.outcomes.text.retain}, ` +
            `logit run-calibrated ${j.outcomes.logitRun.distill} / ${j.outcomes.logitRun.retain}, ` +
            `pair-calibrated ${j.outcomes.logitPair.distill} / ${j.outcomes.logitPair.retain}, ` +
            `position bias ${j.positionBias === null ? "–" : j.positionBias.toFixed(3)}), ` +
            `gate held-out accuracy ${result.report.gate.heldOutAccuracy === null ? "–" : (100 * result.report.gate.heldOutAccuracy).toFixed(1) + "%"}\n` +
            `report: ${outDir}/report.md\n`,
        );
      } catch (err) {
        progress.close();
        if (abort.signal.aborted) {
          process.stderr.write("[bootstrap] interrupted; finished records are saved\n");
          process.exitCode = 130;
          return;
        }
        throw err;
      } finally {
        process.off("SIGINT", onSigint);
        await model.dispose();
      }
    });
}
