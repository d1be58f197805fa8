/**
 * `prism eval`: run MT-Bench, MMLU and JailbreakBench through an OpenAI-compatible server in three
 * modes (base, persona always on, PRISM routed) and write results.json + report.html.
 */
import { join, resolve } from "node:path";
import { Presets, SingleBar } from "cli-progress";
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { EVAL_MODES, EVAL_SETS } from "../../eval/results.js";
import { REPORT_FILE, RESULTS_FILE, runEval } from "../../eval/run.js";
import { positiveInt } from "../options.js";

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError("must be an integer");
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a number ≥ 0");
  return n;
}

function listOf(allowed: readonly string[]) {
  return (value: string): string[] => {
    const items = value.split(",").map((s) => s.trim()).filter(Boolean);
    const bad = items.filter((s) => !allowed.includes(s));
    if (items.length === 0 || bad.length > 0) throw new InvalidArgumentError(`expected a comma-separated subset of ${allowed.join(",")}`);
    return items;
  };
}

interface EvalCliOptions {
  baseUrl: string;
  apiKey?: string;
  judgeUrl?: string;
  judgeModel?: string;
  judgeApiKey?: string;
  sets: ("mtbench" | "mmlu" | "safety")[];
  modes: ("base" | "persona" | "routed")[];
  limit?: number;
  out: string;
  seed: number;
  concurrency: number;
  temperature: number;
  maxTokens: number;
  baseModel: string;
  routedModel: string;
  personaModel?: string;
  dataDir: string;
  mtbench?: string;
  mmlu?: string;
  harmful?: string;
  benign?: string;
  cache: boolean;
  progress: boolean;
}

export function register(program: Command): void {
  program
    .command("eval")
    .description("evaluate base vs persona vs PRISM-routed answers through an OpenAI-compatible server; writes results.json and report.html")
    .requiredOption("--base-url <url>", "OpenAI-compatible base URL of the server under test, e.g. http://127.0.0.1:8080/v1")
    .requiredOption("--out <dir>", "output folder (results.json, report.html, cache.jsonl)")
    .option("--api-key <key>", "API key for the server (default: $OPENAI_API_KEY)")
    .option("--judge-url <url>", "OpenAI-compatible base URL of the judge (default: the server under test)")
    .option("--judge-model <model>", "judge model (default: the base model)")
    .option("--judge-api-key <key>", "API key for the judge (default: the server's key)")
    .option("--sets <list>", `sets to run: ${EVAL_SETS.join(",")}`, listOf(EVAL_SETS), [...EVAL_SETS])
    .option("--modes <list>", `modes to run: ${EVAL_MODES.join(",")}`, listOf(EVAL_MODES), [...EVAL_MODES])
    .option("--limit <n>", "items per set (stratified by category, seeded)", positiveInt)
    .option("--seed <n>", "seed for item selection, sampling and intervals", integer, 0)
    .option("--concurrency <n>", "requests in flight (lets the gateway batch)", positiveInt, 4)
    .option("--temperature <t>", "answer sampling temperature (0 = greedy)", nonNegative, 0)
    .option("--max-tokens <n>", "answer length for MT-Bench and safety", positiveInt, 256)
    .option("--base-model <model>", "model name of the base mode", "prism:base")
    .option("--routed-model <model>", "model name of the routed mode", "prism")
    .option("--persona-model <model>", "persona mode through this forced adapter (e.g. prism:writing) instead of persona prompts")
    .option("--data-dir <dir>", "folder with mt_bench/, mmlu/ and jbb/", "../shared/data")
    .option("--mtbench <file>", "MT-Bench questions jsonl (default: <data-dir>/mt_bench/questions.jsonl)")
    .option("--mmlu <path>", "MMLU CSV file or folder (default: <data-dir>/mmlu)")
    .option("--harmful <file>", "JBB harmful CSV (default: <data-dir>/jbb/harmful.csv)")
    .option("--benign <file>", "JBB benign CSV (default: <data-dir>/jbb/benign.csv)")
    .option("--no-cache", "ignore and do not write <out>/cache.jsonl")
    .addOption(new Option("--no-progress", "no progress bar"))
    .action(async (opts: EvalCliOptions) => {
      const dataDir = resolve(opts.dataDir);
      const bar = opts.progress
        ? new SingleBar(
            { format: "eval [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | failed {failed} | cached {cached} | {last}", hideCursor: true },
            Presets.shades_classic,
          )
        : null;
      const results = await runEval(
        {
          baseURL: opts.baseUrl,
          apiKey: opts.apiKey ?? process.env.OPENAI_API_KEY,
          judgeURL: opts.judgeUrl,
          judgeModel: opts.judgeModel,
          judgeApiKey: opts.judgeApiKey,
          sets: opts.sets,
          modes: opts.modes,
          limit: opts.limit,
          out: resolve(opts.out),
          seed: opts.seed,
          concurrency: opts.concurrency,
          temperature: opts.temperature,
          maxTokens: opts.maxTokens,
          baseModel: opts.baseModel,
          routedModel: opts.routedModel,
          personaModel: opts.personaModel,
          data: {
            mtbench: resolve(opts.mtbench ?? join(dataDir, "mt_bench/questions.jsonl")),
            mmlu: resolve(opts.mmlu ?? join(dataDir, "mmlu")),
            harmful: resolve(opts.harmful ?? join(dataDir, "jbb/harmful.csv")),
            benign: resolve(opts.benign ?? join(dataDir, "jbb/benign.csv")),
          },
          cache: opts.cache,
        },
        {
          onStart: (total) => bar?.start(total, 0, { failed: 0, cached: 0, last: "" }),
          onProgress: (p) => bar?.update(p.done, { failed: p.failed, cached: p.cached, last: p.last }),
        },
      ).finally(() => bar?.stop());
      const out = resolve(opts.out);
      process.stdout.write(
        `${results.records.length} records (${results.failures.length} failed, ${results.run.cachedCalls} calls from cache) in ${(results.run.wallMs / 1000).toFixed(1)} s\n` +
          `results: ${join(out, RESULTS_FILE)}\nreport:  ${join(out, REPORT_FILE)}\n`,
      );
    });
}
