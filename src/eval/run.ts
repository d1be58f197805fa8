/**
 * The evaluation run: load the sets, pick `--limit` items per set (seeded, stratified), answer every
 * item in every mode with several requests in flight (so the gateway can batch), judge, summarise,
 * and write `results.json` and `report.html` atomically into the output folder.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pLimit from "p-limit";
import writeFileAtomic from "write-file-atomic";
import { InvalidRequestError } from "../errors.js";
import { AnswerCache } from "./answer-cache.js";
import { ChatEndpoint } from "./client.js";
import { loadJbb } from "./data/jbb.js";
import { loadMmlu } from "./data/mmlu.js";
import { loadMtBench } from "./data/mtbench.js";
import type { EvalOptionsInput } from "./options.js";
import { evalOptionsSchema } from "./options.js";
import { renderReport } from "./report/html.js";
import type { EvalMode, EvalRecord, EvalResults, EvalSet } from "./results.js";
import { evalResultsSchema } from "./results.js";
import { stratifiedSample } from "./sample.js";
import { summarize } from "./summarize.js";
import type { TaskContext } from "./tasks/context.js";
import { runMmlu } from "./tasks/mmlu.js";
import { runMtBench } from "./tasks/mtbench.js";
import { runSafety } from "./tasks/safety.js";

export interface EvalProgress {
  done: number;
  total: number;
  failed: number;
  cached: number;
  /** `set/mode` of the job that just finished. */
  last: string;
}

export interface EvalHooks {
  onStart?: (total: number) => void;
  onProgress?: (progress: EvalProgress) => void;
}

interface Job {
  set: EvalSet;
  id: string;
  mode: EvalMode;
  run: (ctx: TaskContext) => Promise<EvalRecord>;
}

export const RESULTS_FILE = "results.json";
export const REPORT_FILE = "report.html";
export const CACHE_FILE = "cache.jsonl";

const recordOrder = (a: EvalRecord, b: EvalRecord) =>
  a.set.localeCompare(b.set) || a.group.localeCompare(b.group) || a.id.localeCompare(b.id, "en", { numeric: true }) || a.mode.localeCompare(b.mode);

async function buildJobs(options: ReturnType<typeof evalOptionsSchema.parse>): Promise<{ jobs: Job[]; counts: Record<string, number> }> {
  const jobs: Job[] = [];
  const counts: Record<string, number> = {};
  const { limit, seed, modes } = options;
  const add = <T>(set: EvalSet, items: T[], idOf: (item: T) => string, run: (ctx: TaskContext, item: T, mode: EvalMode) => Promise<EvalRecord>) => {
    for (const item of items) for (const mode of modes) jobs.push({ set, id: idOf(item), mode, run: (ctx) => run(ctx, item, mode) });
  };
  if (options.sets.includes("mtbench")) {
    const items = stratifiedSample(await loadMtBench(options.data.mtbench), (q) => q.category, limit, seed);
    counts.mtbench = items.length;
    add("mtbench", items, (q) => String(q.question_id), runMtBench);
  }
  if (options.sets.includes("mmlu")) {
    const items = stratifiedSample(await loadMmlu(options.data.mmlu), (q) => q.subject, limit, seed);
    counts.mmlu = items.length;
    add("mmlu", items, (q) => `${q.subject}-${q.row}`, runMmlu);
  }
  if (options.sets.includes("safety")) {
    const harmful = stratifiedSample(await loadJbb(options.data.harmful, "harmful"), (b) => b.category, limit, seed);
    const benign = stratifiedSample(await loadJbb(options.data.benign, "benign"), (b) => b.category, limit, seed);
    counts.harmful = harmful.length;
    counts.benign = benign.length;
    add("safety", [...harmful, ...benign], (b) => `${b.kind}-${b.index}`, runSafety);
  }
  return { jobs, counts };
}

export async function runEval(input: EvalOptionsInput, hooks: EvalHooks = {}): Promise<EvalResults> {
  const parsed = evalOptionsSchema.safeParse(input);
  if (!parsed.success) throw new InvalidRequestError(`invalid eval options: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const options = parsed.data;
  const started = performance.now();
  await mkdir(options.out, { recursive: true });

  const target = new ChatEndpoint({ baseURL: options.baseURL, apiKey: options.apiKey, timeoutMs: options.requestTimeoutMs });
  const judgeURL = options.judgeURL ?? options.baseURL;
  const judgeEndpoint =
    options.judgeURL === undefined
      ? target
      : new ChatEndpoint({ baseURL: judgeURL, apiKey: options.judgeApiKey ?? options.apiKey, timeoutMs: options.requestTimeoutMs });
  const judgeModel = options.judgeModel ?? options.baseModel;
  const serverIdentity = await target.modelIdentity();
  const judgeIdentity = judgeEndpoint === target ? serverIdentity : await judgeEndpoint.modelIdentity();

  const { jobs, counts } = await buildJobs(options);
  const cache = await AnswerCache.open(options.cache ? join(options.out, CACHE_FILE) : null);
  let cachedCalls = 0;
  const ctx: TaskContext = {
    target,
    judge: judgeEndpoint,
    judgeModel,
    cache,
    serverIdentity,
    judgeIdentity,
    models: { base: options.baseModel, routed: options.routedModel, personaAdapter: options.personaModel ?? null },
    seed: options.seed,
    temperature: options.temperature,
    maxTokens: options.maxTokens,
    onCacheHit: () => void cachedCalls++,
  };

  hooks.onStart?.(jobs.length);
  const limiter = pLimit(options.concurrency);
  const records: EvalRecord[] = [];
  const failures: EvalResults["failures"] = [];
  let done = 0;
  await Promise.all(
    jobs.map((job) =>
      limiter(async () => {
        try {
          records.push(await job.run(ctx));
        } catch (err) {
          // One bad item (e.g. a prompt longer than the context) is reported, not fatal.
          failures.push({ set: job.set, id: job.id, mode: job.mode, message: err instanceof Error ? err.message : String(err) });
        }
        done++;
        hooks.onProgress?.({ done, total: jobs.length, failed: failures.length, cached: cachedCalls, last: `${job.set}/${job.mode}` });
      }),
    ),
  );
  if (jobs.length > 0 && records.length === 0) {
    throw new InvalidRequestError(`every request failed; first error: ${failures[0]?.message ?? "unknown"}`, "baseURL");
  }

  records.sort(recordOrder);
  failures.sort((a, b) => a.set.localeCompare(b.set) || a.id.localeCompare(b.id) || a.mode.localeCompare(b.mode));
  const results = evalResultsSchema.parse({
    schemaVersion: 1,
    config: {
      baseURL: options.baseURL,
      models: {
        base: options.baseModel,
        persona: options.personaModel ?? options.baseModel,
        routed: options.routedModel,
      },
      personaSource: options.personaModel === undefined ? "prompt" : "adapter",
      judge: { baseURL: judgeURL, model: judgeModel },
      sets: options.sets,
      modes: options.modes,
      limit: options.limit ?? null,
      seed: options.seed,
      temperature: options.temperature,
      maxTokens: options.maxTokens,
      concurrency: options.concurrency,
      serverIdentity,
    },
    counts,
    records,
    failures,
    summary: summarize(records, options.modes, options.seed),
    run: { wallMs: performance.now() - started, cachedCalls, finishedAt: new Date().toISOString() },
  });
  await writeFileAtomic(join(options.out, RESULTS_FILE), JSON.stringify(results, null, 2) + "\n");
  await writeFileAtomic(join(options.out, REPORT_FILE), renderReport(results));
  return results;
}
