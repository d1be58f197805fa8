/**
 * Engine section of `npm run bench` (issue #10): the gateway (`prism serve` with its product defaults) vs
 * node-llama-cpp in-process with default settings vs llama.cpp's `llama-server`, on the same GGUF, threads and
 * slots. Rounds are interleaved (the order alternates) because compute threads spin-wait and any other load on
 * the machine distorts results up to 10×: every sample records the machine's idle share (/proc/stat).
 *
 * Per engine and concurrency: generated tokens/s end to end (all generated tokens / wall time including the
 * prompts; median and range over rounds), TTFT p50/p95. While the gateway generates at the highest
 * concurrency, /health and /metrics are probed (p50/p99 ms: the HTTP side must stay responsive). With
 * llama-server: greedy outputs of the gateway and llama-server for the same prompts must be equal. Both run with
 * flash attention off for that check (a second gateway and llama-server): node-llama-cpp's prebuilt CPU build and a
 * native llama-server build compute flash attention in a different order, which flips near-tie tokens of a small
 * model; with the plain attention kernel their logits agree to the last printed digit. How far the two agree with
 * their defaults (flash attention on for CPU in both) is reported next to it.
 *
 * `--large` adds the same comparison on a generated random-weight model with a 0.5B shape (SmolLM2's
 * tokenizer, written to .cache/bench/ once, never committed).
 *
 * `--mixed` serves a random LoRA as a real adapter pack and sends every other request through it (gateway:
 * `x-prism-route`, llama-server: per-request `lora`, in-process: a second context). `--ablation` adds the
 * gateway without this issue's levers (Node's 4-thread libuv pool, no step alignment) and the gateway with
 * the other batch order (generating sequences first, then prompts in arrival order), and the gateway decoding ahead
 * (on for every machine; "auto" keeps it off where the compute threads fill the cores).
 *
 *   npx tsx bench/engine.ts [--model PATH] [--large] [--mixed] [--ablation] [--concurrency 1,4,8] [--rounds 3]
 *                           [--tokens 64] [--llama-server PATH | env PRISM_LLAMA_SERVER] [--json out.json]
 */
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { writeFixturePacks } from "../src/adapters/fixture-pack.js";
import { writeRandomLlamaModel, writeRandomLora, type RandomModelShape } from "./engine-model.js";
import { streamCompletion } from "./lib/completions.js";
import { InProcessEngine } from "./lib/in-process.js";
import { distinctPrompt, formatThroughputCells, runRound, throughputOf, type RoundResult } from "./lib/load.js";
import { startGateway as startGatewayServer, startLlamaServer as startLlamaServerProcess, type StartedServer } from "./lib/servers.js";
import { commonPrefixWords, geometricMean, median, percentile } from "./lib/stats.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    large: { type: "boolean", default: false },
    concurrency: { type: "string", default: "1,4,8" },
    rounds: { type: "string", default: "3" },
    tokens: { type: "string", default: "64" },
    "prompt-words": { type: "string", default: "150" },
    "context-size": { type: "string", default: "1024" },
    threads: { type: "string", default: String(os.availableParallelism()) },
    "llama-server": { type: "string", default: process.env.PRISM_LLAMA_SERVER },
    /** Also run the gateway without this levers, and with the other batch order. */
    ablation: { type: "boolean", default: false },
    /** Serve a (random) LoRA pack too and send half the requests through it, half to the base model. */
    mixed: { type: "boolean", default: false },
    json: { type: "string" },
  },
});

const CONCURRENCY = values.concurrency!.split(",").map(Number);
const SLOTS = Math.max(...CONCURRENCY);
const ROUNDS = Number(values.rounds);
const TOKENS = Number(values.tokens);
const CONTEXT = Number(values["context-size"]);
const THREADS = Number(values.threads);
const MIXED = values.mixed!;
const LLAMA_SERVER = values["llama-server"] && existsSync(values["llama-server"]) ? values["llama-server"] : null;
const HEALTH_TIMEOUT_MS = 300_000;
/** ~0.51B parameters in a llama shape (SmolLM2's vocabulary, untied output head). */
const LARGE_SHAPE: RandomModelShape = { nEmbd: 1024, nLayer: 36, nHead: 16, nHeadKv: 4, nFf: 2816 };

type EngineName = "gateway" | "gateway-no-levers" | "gateway-generation-first" | "gateway-decode-ahead" | "in-process" | "llama-server";
/** `routed`: through the model's LoRA (gateway route `writer`, llama-server `lora` scale 1), else the base model. */
type Generate = (prompt: string, routed: boolean) => Promise<{ tokens: number; ttftMs: number; text: string }>;

interface Sample extends RoundResult {
  readonly engine: EngineName;
  readonly concurrency: number;
  readonly round: number;
}

/** Every server this bench started: stopped on exit, also when the bench itself is interrupted. */
const servers = new Set<ChildProcess>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    for (const child of servers) child.kill("SIGTERM");
    process.exit(130);
  });
}

/** Distinct prompts (no shared prefix between requests) of about `prompt-words` words. */
const promptFor = (round: number, concurrency: number, index: number): string =>
  distinctPrompt({ round, concurrency, index }, Number(values["prompt-words"]));

/**
 * Streaming /v1/completions on an OpenAI-compatible server; tokens from the usage chunk. The gateway picks the
 * route from `x-prism-route`; llama-server (started with its LoRA unapplied) from the request's `lora` scales.
 */
function overHttp(origin: string, kind: "gateway" | "llama-server"): Generate {
  return (prompt, routed) =>
    streamCompletion(origin, {
      prompt,
      maxTokens: TOKENS,
      ...(kind === "llama-server" && MIXED ? { extraBody: { lora: [{ id: 0, scale: routed ? 1 : 0 }] } } : {}),
      ...(kind === "gateway" ? { headers: { "x-prism-route": routed ? "writer" : "base" } } : {}),
    });
}

/** `prism serve` with its product defaults (no UV_THREADPOOL_SIZE given: it sets its own pool up). */
function startGateway(modelPath: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<StartedServer> {
  const { UV_THREADPOOL_SIZE: _pool, ...baseEnv } = process.env;
  return startGatewayServer({ modelPath, threads: THREADS, sequences: SLOTS, contextSize: CONTEXT, baseEnv, extraEnv, healthTimeoutMs: HEALTH_TIMEOUT_MS, onSpawn: (child) => servers.add(child) });
}

function startLlamaServer(binary: string, modelPath: string, loraPath: string | null, extraArgs: readonly string[] = []): Promise<StartedServer> {
  return startLlamaServerProcess({
    binary, modelPath, loraPath, extraArgs, threads: THREADS, slots: SLOTS, contextSize: CONTEXT, stderr: "ignore", healthTimeoutMs: HEALTH_TIMEOUT_MS, onSpawn: (child) => servers.add(child),
  });
}

/** Probes `path` back to back until `stop` resolves; returns latencies (ms). */
async function probe(origin: string, path: string, stop: Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  let done = false;
  void stop.finally(() => (done = true));
  while (!done) {
    const started = performance.now();
    const res = await fetch(`${origin}${path}`);
    await res.arrayBuffer();
    latencies.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, 20));
  }
  return latencies;
}

async function measure(engine: EngineName, concurrency: number, round: number, generate: Generate): Promise<Sample> {
  const result = await runRound(concurrency, (i) => generate(promptFor(round, concurrency, i), MIXED && i % 2 === 1));
  return { engine, concurrency, round, ...result };
}

interface GreedyParity {
  readonly prompts: number;
  /** Flash attention off in both: prompts whose gateway output equals llama-server's (all must). */
  readonly equal: number;
  /** Per prompt, words the two outputs share from the start, out of llama-server's output. */
  readonly agreedWords: readonly { readonly agreed: number; readonly of: number }[];
  readonly mismatches: { prompt: number; gateway: string; llamaServer: string }[];
  /** The same with both engines' defaults (flash attention on for CPU): numerics, not a failure. */
  readonly withDefaults: { readonly equal: number; readonly agreedWords: number; readonly of: number };
}

interface ModelResult {
  readonly model: string;
  readonly rows: ReturnType<typeof summarize>;
  readonly ratios: {
    concurrency: number;
    gatewayVsInProcess: number;
    gatewayVsLlamaServer: number | null;
    /** Gateway / llama-server tok/s within each round (the two ran back to back): geometric mean and range. */
    gatewayVsLlamaServerPerRound: { geomean: number; min: number; max: number } | null;
    ttftP50GatewayVsLlamaServer: number | null;
  }[];
  readonly responsiveness: { path: string; probes: number; p50Ms: number; p99Ms: number; maxMs: number }[];
  readonly greedyParity: GreedyParity | null;
  readonly samples: Sample[];
}

/** Ratio of two engines' tok/s within each round at `concurrency`: they ran back to back, so machine noise mostly cancels. */
function perRoundRatio(samples: readonly Sample[], concurrency: number, a: EngineName, b: EngineName) {
  const rate = (engine: EngineName, round: number) => {
    const s = samples.find((x) => x.engine === engine && x.concurrency === concurrency && x.round === round)!;
    return s.generatedTokens / s.wallMs;
  };
  const ratios = Array.from({ length: ROUNDS }, (_, round) => rate(a, round) / rate(b, round));
  return { geomean: geometricMean(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
}

function summarize(samples: readonly Sample[], engines: readonly EngineName[]) {
  return CONCURRENCY.flatMap((concurrency) =>
    engines.map((engine) => {
      const mine = samples.filter((s) => s.engine === engine && s.concurrency === concurrency);
      return { engine, concurrency, ...throughputOf(mine), idleShare: median(mine.map((s) => s.idleShare)) };
    }),
  );
}

/** With --mixed: a random LoRA for the model and a real adapter pack `writer` serving it (gate trained here). */
async function adaptersFor(modelPath: string): Promise<{ loraPath: string; adaptersDir: string } | null> {
  if (!MIXED) return null;
  const dir = join(".cache", "bench", `packs-${basename(modelPath, ".gguf")}`);
  await mkdir(dir, { recursive: true });
  const loraPath = await writeRandomLora(join(dir, "lora.gguf"), modelPath, { rank: 8, seed: 11 });
  const { adaptersDir } = await writeFixturePacks(dir, { modelPath, loraPath, seed: 11 });
  return { loraPath, adaptersDir };
}

const PARITY_PROMPTS = 8;

/**
 * Greedy parity: the same prompts, one at a time, through a gateway and a llama-server with flash attention off
 * (exact equality required), and through the benchmark's gateway and llama-server with their defaults.
 */
async function compareGreedy(defaults: { gateway: StartedServer; llamaServer: StartedServer }, modelPath: string, packEnv: NodeJS.ProcessEnv, loraPath: string | null): Promise<GreedyParity> {
  const prompts = Array.from({ length: PARITY_PROMPTS }, (_, i) => promptFor(70, 1, i));
  const textsOf = async (server: StartedServer, kind: "gateway" | "llama-server") => {
    const out: string[] = [];
    for (const prompt of prompts) out.push((await overHttp(server.origin, kind)(prompt, false)).text);
    return out;
  };
  const compare = (gatewayTexts: readonly string[], serverTexts: readonly string[]) => {
    const mismatches = prompts.flatMap((_, i) => (gatewayTexts[i] === serverTexts[i] ? [] : [{ prompt: i, gateway: gatewayTexts[i]!, llamaServer: serverTexts[i]! }]));
    return {
      equal: prompts.length - mismatches.length,
      mismatches,
      agreedWords: prompts.map((_, i) => ({ agreed: commonPrefixWords(gatewayTexts[i]!, serverTexts[i]!), of: commonPrefixWords(serverTexts[i]!, serverTexts[i]!) })),
    };
  };
  const gateway = await startGateway(modelPath, { ...packEnv, PRISM_ENGINE_FLASH_ATTENTION: "false" });
  const llamaServer = await startLlamaServer(LLAMA_SERVER!, modelPath, loraPath, ["-fa", "off"]);
  const [gatewayTexts, serverTexts] = await Promise.all([textsOf(gateway, "gateway"), textsOf(llamaServer, "llama-server")]).finally(() => {
    gateway.child.kill("SIGTERM");
    llamaServer.child.kill("SIGTERM");
  });
  const exact = compare(gatewayTexts, serverTexts);
  const byDefault = compare(await textsOf(defaults.gateway, "gateway"), await textsOf(defaults.llamaServer, "llama-server"));
  return {
    prompts: prompts.length,
    ...exact,
    withDefaults: {
      equal: byDefault.equal,
      agreedWords: byDefault.agreedWords.reduce((a, w) => a + w.agreed, 0),
      of: byDefault.agreedWords.reduce((a, w) => a + w.of, 0),
    },
  };
}

async function benchModel(modelPath: string): Promise<ModelResult> {
  const adapters = await adaptersFor(modelPath);
  const packEnv: NodeJS.ProcessEnv = adapters ? { PRISM_ADAPTERS_DIR: adapters.adaptersDir } : { PRISM_ADAPTERS_DIR: join(".cache", "bench", "no-adapters") };
  const gateway = await startGateway(modelPath, packEnv);
  const plain = values.ablation
    ? await startGateway(modelPath, { ...packEnv, PRISM_ENGINE_THREADPOOL_SIZE: "null", PRISM_ENGINE_STEP_ALIGN_MAX_WAIT_MS: "0" })
    : null;
  const generationFirst = values.ablation ? await startGateway(modelPath, { ...packEnv, PRISM_ENGINE_BATCH_ORDER: "generation-first" }) : null;
  const decodeAhead = values.ablation ? await startGateway(modelPath, { ...packEnv, PRISM_ENGINE_DECODE_AHEAD: "true" }) : null;
  const llamaServer = LLAMA_SERVER ? await startLlamaServer(LLAMA_SERVER, modelPath, adapters?.loraPath ?? null) : null;
  const inProcess = await InProcessEngine.start({ modelPath, contextSize: CONTEXT, sequences: SLOTS, threads: THREADS, loraPath: adapters?.loraPath ?? null });
  const runners: { engine: EngineName; generate: Generate }[] = [
    { engine: "gateway", generate: overHttp(gateway.origin, "gateway") },
    ...(plain ? [{ engine: "gateway-no-levers" as const, generate: overHttp(plain.origin, "gateway") }] : []),
    ...(generationFirst ? [{ engine: "gateway-generation-first" as const, generate: overHttp(generationFirst.origin, "gateway") }] : []),
    ...(decodeAhead ? [{ engine: "gateway-decode-ahead" as const, generate: overHttp(decodeAhead.origin, "gateway") }] : []),
    { engine: "in-process", generate: (prompt, routed) => inProcess.generate(prompt, TOKENS, routed) },
    ...(llamaServer ? [{ engine: "llama-server" as const, generate: overHttp(llamaServer.origin, "llama-server") }] : []),
  ];
  const samples: Sample[] = [];
  const responsiveness: ModelResult["responsiveness"] = [];
  let greedyParity: ModelResult["greedyParity"] = null;
  try {
    // Warm-up: first evaluations pay one-time costs.
    for (const runner of runners) await Promise.all([runner.generate(promptFor(99, 0, 0), false), ...(MIXED ? [runner.generate(promptFor(99, 0, 1), true)] : [])]);
    for (let round = 0; round < ROUNDS; round++) {
      for (const concurrency of CONCURRENCY) {
        const order = (round + concurrency) % 2 === 0 ? runners : [...runners].reverse();
        for (const runner of order) {
          const sample = await measure(runner.engine, concurrency, round, runner.generate);
          samples.push(sample);
          process.stderr.write(
            `[engine bench] ${modelPath} round ${round} c=${concurrency} ${runner.engine}: ${((sample.generatedTokens / sample.wallMs) * 1000).toFixed(1)} tok/s, idle ${(sample.idleShare * 100).toFixed(0)}%\n`,
          );
        }
      }
    }
    // The HTTP side under full generation load: /health and /metrics while SLOTS streams run.
    const load = Promise.all(Array.from({ length: SLOTS }, (_, i) => overHttp(gateway.origin, "gateway")(promptFor(50, SLOTS, i), MIXED && i % 2 === 1)));
    const [health, metrics] = await Promise.all([probe(gateway.origin, "/health", load), probe(gateway.origin, "/metrics", load)]);
    await load;
    for (const [path, xs] of [["/health", health], ["/metrics", metrics]] as const) {
      responsiveness.push({ path, probes: xs.length, p50Ms: percentile(xs, 50), p99Ms: percentile(xs, 99), maxMs: Math.max(...xs) });
    }
    if (llamaServer) greedyParity = await compareGreedy({ gateway, llamaServer }, modelPath, packEnv, adapters?.loraPath ?? null);
  } finally {
    gateway.child.kill("SIGTERM");
    plain?.child.kill("SIGTERM");
    generationFirst?.child.kill("SIGTERM");
    decodeAhead?.child.kill("SIGTERM");
    llamaServer?.child.kill("SIGTERM");
    await inProcess.dispose();
  }
  const engines = runners.map((r) => r.engine);
  const rows = summarize(samples, engines);
  const ratios = CONCURRENCY.map((concurrency) => {
    const of = (engine: EngineName) => rows.find((r) => r.engine === engine && r.concurrency === concurrency);
    const gw = of("gateway")!;
    const server = of("llama-server");
    return {
      concurrency,
      gatewayVsInProcess: gw.tokPerSec.median / of("in-process")!.tokPerSec.median,
      gatewayVsLlamaServer: server ? gw.tokPerSec.median / server.tokPerSec.median : null,
      gatewayVsLlamaServerPerRound: server ? perRoundRatio(samples, concurrency, "gateway", "llama-server") : null,
      ttftP50GatewayVsLlamaServer: server ? gw.ttftMs.p50 / server.ttftMs.p50 : null,
    };
  });
  return { model: modelPath, rows, ratios, responsiveness, greedyParity, samples };
}

function printTable(result: ModelResult): void {
  console.log(`\nengine benchmark: ${result.model} (medians of ${ROUNDS} interleaved rounds; tok/s = generated tokens / wall time incl. prompt)`);
  const nameWidth = Math.max(13, ...result.rows.map((r) => r.engine.length));
  console.log(`${"engine".padEnd(nameWidth)} conc  tok/s (min–max)              TTFT p50 / p95 ms   idle`);
  for (const r of result.rows) {
    console.log(`${formatThroughputCells(r, nameWidth + 37, nameWidth)}  ${(r.idleShare * 100).toFixed(0)}%`);
  }
  for (const r of result.ratios) {
    console.log(
      `c=${r.concurrency}: gateway/in-process ${r.gatewayVsInProcess.toFixed(2)}×` +
        (r.gatewayVsLlamaServerPerRound !== null
          ? `, gateway/llama-server ${r.gatewayVsLlamaServer!.toFixed(2)}× (per round: geomean ${r.gatewayVsLlamaServerPerRound.geomean.toFixed(2)}×, ` +
            `${r.gatewayVsLlamaServerPerRound.min.toFixed(2)}–${r.gatewayVsLlamaServerPerRound.max.toFixed(2)}×; TTFT p50 ${r.ttftP50GatewayVsLlamaServer!.toFixed(2)}×)`
          : ""),
    );
  }
  for (const r of result.responsiveness) console.log(`${r.path} under load (${SLOTS} streams): p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, max ${r.maxMs.toFixed(1)} ms (${r.probes} probes)`);
  const parity = result.greedyParity;
  if (parity) {
    const words = parity.agreedWords.map((w) => `${w.agreed}/${w.of}`).join(", ");
    console.log(`greedy parity with llama-server (flash attention off in both): ${parity.equal}/${parity.prompts} prompts equal (words ${words})`);
    const d = parity.withDefaults;
    console.log(`  with both engines' defaults (flash attention on for CPU): ${d.equal}/${parity.prompts} equal, ${d.agreedWords} of ${d.of} words`);
  } else console.log("greedy parity: skipped (no llama-server: --llama-server PATH or PRISM_LLAMA_SERVER)");
}

const models = [values.model!];
if (values.large) {
  await mkdir(join(".cache", "bench"), { recursive: true });
  models.push(await writeRandomLlamaModel(join(".cache", "bench", "random-0.5b.Q8_0.gguf"), { tokenizerFrom: values.model!, shape: LARGE_SHAPE, seed: 7 }));
}
const results: ModelResult[] = [];
for (const model of models) {
  const result = await benchModel(model);
  results.push(result);
  printTable(result);
}
const report = {
  section: "engine",
  settings: { mixed: MIXED, threads: THREADS, slots: SLOTS, contextSize: CONTEXT, tokens: TOKENS, rounds: ROUNDS, concurrency: CONCURRENCY, llamaServer: LLAMA_SERVER, machine: { cpus: os.availableParallelism(), loadavg: os.loadavg() } },
  note: "shared, noisy machine: compare interleaved medians only; idleShare = share of CPU idle during the round",
  results,
};
console.log(JSON.stringify({ section: "engine", results: results.map((r) => ({ model: r.model, ratios: r.ratios, responsiveness: r.responsiveness, greedyParity: r.greedyParity })) }));
if (values.json) await writeFile(values.json, JSON.stringify(report, null, 2));
const parityFailed = results.some((r) => r.greedyParity !== null && r.greedyParity.equal !== r.greedyParity.prompts);
process.exit(parityFailed ? 1 : 0);
