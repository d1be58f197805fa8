/**
 * Gateway vs node-llama-cpp in-process (and optionally llama.cpp's llama-server) on the same GGUF and settings.
 * The gateway runs as a real `prism serve` child process and is driven over HTTP with streaming
 * `/v1/completions` (SSE); the in-process engine runs node-llama-cpp directly in this process with the same
 * context size, sequences and threads. Per concurrency: generated tokens/s end to end (all generated tokens /
 * wall time including prompts), TTFT p50/p95, RSS, and the machine's idle share during the round (/proc/stat):
 * compute threads spin-wait, so other load distorts results up to 10× — compare only interleaved rounds.
 *
 *   npx tsx bench/gateway.ts [--model PATH] [--concurrency 1,4,8] [--rounds 2] [--tokens 32] [--prompt-words 60]
 *                            [--threads N] [--llama-server PATH] [--json out.json]
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import { parseArgs } from "node:util";
import { streamCompletion } from "./lib/completions.js";
import { InProcessEngine } from "./lib/in-process.js";
import { formatThroughputCells, distinctPrompt, runRound, throughputOf, type GenerationResult, type RoundResult } from "./lib/load.js";
import { startGateway, startLlamaServer } from "./lib/servers.js";
import { median } from "./lib/stats.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    concurrency: { type: "string", default: "1,4,8" },
    rounds: { type: "string", default: "2" },
    tokens: { type: "string", default: "32" },
    "prompt-words": { type: "string", default: "60" },
    "context-size": { type: "string", default: "1024" },
    threads: { type: "string", default: String(os.availableParallelism()) },
    "llama-server": { type: "string" },
    json: { type: "string" },
  },
});

const MODEL = values.model!;
const CONCURRENCY = values.concurrency!.split(",").map(Number);
const SEQUENCES = Math.max(...CONCURRENCY);
const ROUNDS = Number(values.rounds);
const TOKENS = Number(values.tokens);
const CONTEXT = Number(values["context-size"]);
const THREADS = Number(values.threads);
const HEALTH_TIMEOUT_MS = 180_000;

type Engine = "gateway" | "in-process" | "llama-server";
interface Sample extends RoundResult {
  readonly engine: Engine;
  readonly concurrency: number;
  readonly round: number;
  readonly rssMb: number;
}

/** Distinct prompts (no shared prefix cache between requests) of about `--prompt-words` words. */
const promptFor = (round: number, concurrency: number, index: number): string =>
  distinctPrompt({ round, concurrency, index }, Number(values["prompt-words"]));

function rssMbOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : NaN;
}

async function measure(engine: Engine, concurrency: number, round: number, generate: (prompt: string) => Promise<GenerationResult>, pid: number): Promise<Sample> {
  const result = await runRound(concurrency, (i) => generate(promptFor(round, concurrency, i)));
  return { engine, concurrency, round, ...result, rssMb: rssMbOf(pid) };
}

// `prism serve` as a child process on a free port, configured like the in-process engine.
const gateway = await startGateway({ modelPath: MODEL, threads: THREADS, sequences: SEQUENCES, contextSize: CONTEXT, healthTimeoutMs: HEALTH_TIMEOUT_MS });
const llamaServer = values["llama-server"]
  ? await startLlamaServer({ binary: values["llama-server"], modelPath: MODEL, threads: THREADS, slots: SEQUENCES, contextSize: CONTEXT, stderr: "inherit", healthTimeoutMs: HEALTH_TIMEOUT_MS })
  : null;
const inProcess = await InProcessEngine.start({ modelPath: MODEL, contextSize: CONTEXT, sequences: SEQUENCES, threads: THREADS });
const overHttp = (origin: string) => (prompt: string) => streamCompletion(origin, { prompt, maxTokens: TOKENS });
const runners: { engine: Engine; generate: (prompt: string) => Promise<GenerationResult>; pid: number }[] = [
  { engine: "gateway", generate: overHttp(gateway.origin), pid: gateway.child.pid! },
  { engine: "in-process", generate: (p) => inProcess.generate(p, TOKENS), pid: process.pid },
  ...(llamaServer ? [{ engine: "llama-server" as const, generate: overHttp(llamaServer.origin), pid: llamaServer.child.pid! }] : []),
];

const samples: Sample[] = [];
try {
  // Warm-up: first evaluations pay one-time costs.
  for (const runner of runners) await runner.generate(promptFor(99, 0, 0));
  for (let round = 0; round < ROUNDS; round++) {
    for (const concurrency of CONCURRENCY) {
      // Interleave, alternating which engine goes first.
      const order = round % 2 === 0 ? runners : [...runners].reverse();
      for (const runner of order) {
        const sample = await measure(runner.engine, concurrency, round, runner.generate, runner.pid);
        samples.push(sample);
        process.stderr.write(
          `[gateway bench] round ${round} c=${concurrency} ${runner.engine}: ${((sample.generatedTokens / sample.wallMs) * 1000).toFixed(1)} tok/s, idle ${(sample.idleShare * 100).toFixed(0)}%\n`,
        );
      }
    }
  }
} finally {
  gateway.child.kill("SIGTERM");
  llamaServer?.child.kill("SIGTERM");
  await inProcess.dispose();
}

const rows = CONCURRENCY.flatMap((concurrency) =>
  runners.map(({ engine }) => {
    const mine = samples.filter((s) => s.engine === engine && s.concurrency === concurrency);
    return {
      engine,
      concurrency,
      ...throughputOf(mine),
      rssMb: Math.max(...mine.map((s) => s.rssMb)),
      idleShare: median(mine.map((s) => s.idleShare)),
    };
  }),
);
const ratios = CONCURRENCY.map((concurrency) => {
  const of = (engine: Engine) => rows.find((r) => r.engine === engine && r.concurrency === concurrency);
  const gw = of("gateway")!;
  const ref = of("in-process")!;
  const server = of("llama-server");
  return {
    concurrency,
    gatewayVsInProcess: gw.tokPerSec.median / ref.tokPerSec.median,
    ...(server ? { gatewayVsLlamaServer: gw.tokPerSec.median / server.tokPerSec.median } : {}),
  };
});

const result = {
  section: "gateway",
  settings: { model: MODEL, threads: THREADS, sequences: SEQUENCES, contextSize: CONTEXT, tokens: TOKENS, rounds: ROUNDS, concurrency: CONCURRENCY },
  note: "shared, noisy 2-core machine: compare interleaved medians only; idleShare = share of CPU idle during the round",
  rows,
  ratios,
  samples,
};

console.log("\ngateway benchmark (medians of interleaved rounds; tok/s = generated tokens / wall time incl. prompt)");
console.log("engine        conc  tok/s (min–max)        TTFT p50 / p95 ms   RSS MB  idle");
for (const r of rows) console.log(`${formatThroughputCells(r, 44)}  ${r.rssMb.toFixed(0).padStart(6)}  ${(r.idleShare * 100).toFixed(0)}%`);
for (const r of ratios) {
  console.log(
    `c=${r.concurrency}: gateway/in-process ${r.gatewayVsInProcess.toFixed(2)}×` +
      (r.gatewayVsLlamaServer !== undefined ? `, gateway/llama-server ${r.gatewayVsLlamaServer.toFixed(2)}×` : ""),
  );
}
console.log(JSON.stringify({ section: result.section, rows: result.rows, ratios: result.ratios }));
if (values.json) await writeFile(values.json, JSON.stringify(result, null, 2));
