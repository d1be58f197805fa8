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
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel, type LlamaContext, type LlamaModel, type Token } from "node-llama-cpp";

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

type Engine = "gateway" | "in-process" | "llama-server";
interface Sample {
  readonly engine: Engine;
  readonly concurrency: number;
  readonly round: number;
  readonly generatedTokens: number;
  readonly wallMs: number;
  readonly ttftMs: number[];
  readonly idleShare: number;
  readonly rssMb: number;
}

const TOPICS = ["rivers", "bread", "violins", "glaciers", "trains", "bees", "chess", "lighthouses", "volcanoes", "paper"];
/** Distinct prompts (no shared prefix cache between requests) of about `words` words. */
function promptFor(round: number, i: number): string {
  const topic = TOPICS[(round * 7 + i) % TOPICS.length]!;
  const filler = `Here are some notes about ${topic} number ${round}-${i}. `.repeat(Math.ceil(Number(values["prompt-words"]) / 8));
  return `${filler}\nWrite a short paragraph about ${topic}:`;
}

function cpuTimes(): { idle: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: fields[3]! + (fields[4] ?? 0), total: fields.reduce((a, b) => a + b, 0) };
}

function rssMbOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : NaN;
}

const percentile = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** node-llama-cpp directly: one context with SEQUENCES sequences, greedy, stops at end-of-generation. */
class InProcess {
  private constructor(
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
  ) {}

  static async start(): Promise<InProcess> {
    const llama = await getLlama({ gpu: false, maxThreads: THREADS, build: "never", logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: MODEL });
    const context = await model.createContext({ contextSize: CONTEXT, sequences: SEQUENCES, threads: THREADS });
    return new InProcess(model, context);
  }

  async generate(prompt: string): Promise<{ tokens: number; ttftMs: number }> {
    const started = performance.now();
    const sequence = this.context.getSequence();
    try {
      let tokens = this.model.tokenize(prompt, false);
      const bos = this.model.tokens.bos;
      if (bos !== null && this.model.tokens.shouldPrependBosToken) tokens = [bos, ...tokens] as Token[];
      let generated = 0;
      let ttftMs = NaN;
      for await (const token of sequence.evaluate(tokens, { temperature: 0 })) {
        if (generated === 0) ttftMs = performance.now() - started;
        if (this.model.isEogToken(token)) break;
        if (++generated >= TOKENS) break;
      }
      return { tokens: generated, ttftMs };
    } finally {
      await sequence.dispose();
    }
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}

/** Any OpenAI-compatible server: streaming /v1/completions, tokens from the usage chunk (else content chunks). */
async function generateOverHttp(origin: string, prompt: string): Promise<{ tokens: number; ttftMs: number }> {
  const started = performance.now();
  const res = await fetch(`${origin}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "prism",
      prompt,
      max_tokens: TOKENS,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!res.ok || !res.body) throw new Error(`${origin}: HTTP ${res.status} ${await res.text()}`);
  let ttftMs = NaN;
  let chunks = 0;
  let usageTokens: number | null = null;
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const bytes of res.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const chunk = JSON.parse(event.slice(6)) as { choices?: { text?: string }[]; usage?: { completion_tokens: number } | null };
      if (chunk.choices?.[0]?.text) {
        if (chunks === 0) ttftMs = performance.now() - started;
        chunks++;
      }
      if (chunk.usage) usageTokens = chunk.usage.completion_tokens;
    }
  }
  return { tokens: usageTokens ?? chunks, ttftMs };
}

async function waitForHealth(origin: string, child: ChildProcess, path = "/health"): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${origin}${path}`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${origin}${path} not healthy after 180 s`);
}

/** `prism serve` as a child process on a free port, configured like the in-process engine. */
async function startGateway(): Promise<{ origin: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "--model", MODEL, "--port", "0", "--host", "127.0.0.1"], {
    env: {
      ...process.env,
      PRISM_MODEL_THREADS: String(THREADS),
      PRISM_MODEL_SEQUENCES: String(SEQUENCES),
      PRISM_MODEL_CONTEXT_SIZE: String(CONTEXT),
      PRISM_ENGINE_MAX_QUEUE: "64",
      PRISM_LIMITS_REQUESTS_PER_MINUTE: "null",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const origin = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (data: Buffer) => {
      out += data.toString();
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once("exit", (code) => reject(new Error(`prism serve exited with ${code}:\n${out}`)));
  });
  child.stdout!.resume();
  await waitForHealth(origin, child);
  return { origin, child };
}

async function startLlamaServer(binary: string): Promise<{ origin: string; child: ChildProcess }> {
  const port = 18000 + Math.floor(Math.random() * 2000);
  const child = spawn(binary, ["-m", MODEL, "-t", String(THREADS), "-np", String(SEQUENCES), "-c", String(CONTEXT * SEQUENCES), "--port", String(port), "--host", "127.0.0.1"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitForHealth(origin, child);
  return { origin, child };
}

async function measure(
  engine: Engine,
  concurrency: number,
  round: number,
  generate: (prompt: string) => Promise<{ tokens: number; ttftMs: number }>,
  pid: number,
): Promise<Sample> {
  const cpu0 = cpuTimes();
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: concurrency }, (_, i) => generate(promptFor(round, i))));
  const wallMs = performance.now() - started;
  const cpu1 = cpuTimes();
  return {
    engine,
    concurrency,
    round,
    generatedTokens: results.reduce((n, r) => n + r.tokens, 0),
    wallMs,
    ttftMs: results.map((r) => r.ttftMs),
    idleShare: (cpu1.idle - cpu0.idle) / Math.max(1, cpu1.total - cpu0.total),
    rssMb: rssMbOf(pid),
  };
}

const gateway = await startGateway();
const llamaServer = values["llama-server"] ? await startLlamaServer(values["llama-server"]) : null;
const inProcess = await InProcess.start();
const runners: { engine: Engine; generate: (prompt: string) => Promise<{ tokens: number; ttftMs: number }>; pid: number }[] = [
  { engine: "gateway", generate: (p) => generateOverHttp(gateway.origin, p), pid: gateway.child.pid! },
  { engine: "in-process", generate: (p) => inProcess.generate(p), pid: process.pid },
  ...(llamaServer ? [{ engine: "llama-server" as const, generate: (p: string) => generateOverHttp(llamaServer.origin, p), pid: llamaServer.child.pid! }] : []),
];

const samples: Sample[] = [];
try {
  // Warm-up: first evaluations pay one-time costs.
  for (const runner of runners) await runner.generate(promptFor(99, 0));
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
    const tokPerSec = mine.map((s) => (s.generatedTokens / s.wallMs) * 1000);
    const ttft = mine.flatMap((s) => s.ttftMs);
    return {
      engine,
      concurrency,
      tokPerSec: { median: median(tokPerSec), min: Math.min(...tokPerSec), max: Math.max(...tokPerSec) },
      ttftMs: { p50: percentile(ttft, 50), p95: percentile(ttft, 95) },
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
for (const r of rows) {
  console.log(
    `${r.engine.padEnd(13)} ${String(r.concurrency).padStart(4)}  ${r.tokPerSec.median.toFixed(1).padStart(6)} (${r.tokPerSec.min.toFixed(1)}–${r.tokPerSec.max.toFixed(1)})`.padEnd(44) +
      `${r.ttftMs.p50.toFixed(0).padStart(7)} / ${r.ttftMs.p95.toFixed(0).padEnd(8)}  ${r.rssMb.toFixed(0).padStart(6)}  ${(r.idleShare * 100).toFixed(0)}%`,
  );
}
for (const r of ratios) {
  console.log(
    `c=${r.concurrency}: gateway/in-process ${r.gatewayVsInProcess.toFixed(2)}×` +
      (r.gatewayVsLlamaServer !== undefined ? `, gateway/llama-server ${r.gatewayVsLlamaServer.toFixed(2)}×` : ""),
  );
}
console.log(JSON.stringify({ section: result.section, rows: result.rows, ratios: result.ratios }));
if (values.json) await writeFile(values.json, JSON.stringify(result, null, 2));
