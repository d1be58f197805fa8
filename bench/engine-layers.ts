/**
 * Where a generated token's time goes at one request (issue #10): the same greedy generation through each layer,
 * from node-llama-cpp's native calls up to the gateway over HTTP, next to llama.cpp's `llama-server`.
 *
 *   native            node-llama-cpp's addon driven directly: initBatch/addToBatch, decodeBatch, then sampleToken,
 *                     each native call awaited. Reaches into node-llama-cpp internals (`_ctx`, `_bindings`): a
 *                     diagnostic floor, never product code.
 *   native-one-wake   the same, with the sampling call queued right behind the decode call. The one libuv pool
 *                     thread runs them in order, so the JS thread wakes once per token instead of twice: what a
 *                     decode-and-sample call in the binding would give.
 *   node-llama-cpp    its public API, `LlamaContextSequence.evaluate`.
 *   engine            the product's engine in-process (src/engine/llama-engine.ts), no HTTP.
 *   gateway           `prism serve` over HTTP; times are when the client receives each chunk.
 *   llama-server      over HTTP, the same way.
 *
 * Per layer: the median gap between tokens (median over rounds of each generation's median), decode-phase tokens/s,
 * for the layers in this process and the gateway the JS thread's CPU per token (/proc/<pid>/task/<pid>/stat: on a
 * CPU box that thread's work between two decodes is added to every token), and the ratio to llama-server paired
 * within each round (geometric mean), since single rounds swing by ±15% on a 2-core machine. Rounds rotate the
 * order of the layers; the process runs with one libuv pool thread, as the product does (src/engine/libuv-pool.ts).
 *
 *   npx tsx bench/engine-layers.ts [--model PATH] [--rounds 6] [--tokens 256] [--prompt-words 20]
 *                                  [--layers native,engine,...] [--llama-server PATH | env PRISM_LLAMA_SERVER]
 *                                  [--json out.json]
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { setTimeout } from "node:timers/promises";
import { parseArgs } from "node:util";
import writeFileAtomic from "write-file-atomic";
import { getLlama, LlamaLogLevel, type LlamaContext, type LlamaModel, type Token } from "node-llama-cpp";
import { LlamaEngine } from "../src/engine/llama-engine.js";
import { libuvPoolSize, planThreadpool, REEXEC_MARKER, runWithThreadpoolSize } from "../src/engine/libuv-pool.js";
import { streamCompletion } from "./lib/completions.js";
import { completionPromptTokens } from "./lib/in-process.js";
import { distinctPrompt } from "./lib/load.js";
import { startGateway, startLlamaServer, type StartedServer } from "./lib/servers.js";
import { geometricMean, median } from "./lib/stats.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    rounds: { type: "string", default: "6" },
    tokens: { type: "string", default: "256" },
    "prompt-words": { type: "string", default: "20" },
    "context-size": { type: "string", default: "1024" },
    threads: { type: "string", default: String(os.availableParallelism()) },
    "llama-server": { type: "string", default: process.env.PRISM_LLAMA_SERVER },
    /** A subset of the layers, comma-separated (default: all; llama-server only with a binary). */
    layers: { type: "string" },
    json: { type: "string" },
  },
});

const plan = planThreadpool(1, process.env);
if (plan.action === "reexec") process.exit(await runWithThreadpoolSize(plan.size));
if (libuvPoolSize() !== 1) throw new Error("engine-layers needs UV_THREADPOOL_SIZE=1 (native-one-wake relies on one pool thread)");

const MODEL = values.model!;
const TOKENS = Number(values.tokens);
const THREADS = Number(values.threads);
const CONTEXT = Number(values["context-size"]);
/** The gateway's default sequences per context, so every layer runs the same KV layout. */
const SEQUENCES = 8;
/** Pause before each layer's generation. */
const QUIET_MS = 500;

const ALL_LAYERS = ["native", "native-one-wake", "node-llama-cpp", "engine", "gateway", "llama-server"] as const;
type Layer = (typeof ALL_LAYERS)[number];
const LAYERS: readonly Layer[] = values.layers
  ? values.layers.split(",").map((name) => {
      if (!(ALL_LAYERS as readonly string[]).includes(name)) throw new Error(`--layers: unknown layer ${name} (${ALL_LAYERS.join(", ")})`);
      return name as Layer;
    })
  : ALL_LAYERS;

/** One generation: when each token became available, and the JS thread's CPU it took (null: not measured). */
interface Run {
  readonly times: readonly number[];
  readonly jsCpuMs: number | null;
}

/** The node-llama-cpp addon methods the native layers call (internal to node-llama-cpp 3.x). */
interface AddonContext {
  initBatch(size: number): void;
  addToBatch(sequenceId: number, firstTokenIndex: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array;
  decodeBatch(): Promise<void>;
  sampleToken(batchLogitIndex: number, sampler: object): Promise<number>;
}
type AddonSamplerClass = new (model: object) => { applyConfig(config: object): void; dispose(): void };

/** CPU time (ms) of a process's main thread; clock ticks are 10 ms on Linux. */
function mainThreadCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Greedy generation on the addon directly; `oneWake` queues each sampling call behind its decode call. */
async function viaAddon(context: LlamaContext, model: LlamaModel, prompt: Token[], oneWake: boolean): Promise<Run> {
  const addon = (context as unknown as { _ctx: AddonContext })._ctx;
  const Sampler = (model as unknown as { _llama: { _bindings: { AddonSampler: AddonSamplerClass } } })._llama._bindings.AddonSampler;
  const sequence = context.getSequence();
  const sampler = new Sampler((model as unknown as { _model: object })._model);
  const id = (sequence as unknown as { _sequenceId: number })._sequenceId;
  const cpu0 = mainThreadCpuMs(process.pid);
  const times: number[] = [];
  try {
    sampler.applyConfig({ temperature: 0 });
    addon.initBatch(prompt.length);
    const [promptLogit] = addon.addToBatch(id, 0, Uint32Array.from(prompt), Uint32Array.of(prompt.length - 1));
    await addon.decodeBatch();
    let token = await addon.sampleToken(promptLogit!, sampler);
    for (let position = prompt.length; !model.isEogToken(token as Token); position++) {
      times.push(performance.now());
      if (times.length === TOKENS) break;
      addon.initBatch(1);
      const [logit] = addon.addToBatch(id, position, Uint32Array.of(token), Uint32Array.of(0));
      if (oneWake) {
        const decoded = addon.decodeBatch();
        const sampled = addon.sampleToken(logit!, sampler);
        await decoded;
        token = await sampled;
      } else {
        await addon.decodeBatch();
        token = await addon.sampleToken(logit!, sampler);
      }
    }
  } finally {
    sampler.dispose();
    sequence.dispose();
  }
  return { times, jsCpuMs: mainThreadCpuMs(process.pid) - cpu0 };
}

async function viaEvaluate(context: LlamaContext, prompt: Token[]): Promise<Run> {
  const sequence = context.getSequence();
  const cpu0 = mainThreadCpuMs(process.pid);
  const times: number[] = [];
  try {
    for await (const _token of sequence.evaluate(prompt, { temperature: 0 })) {
      times.push(performance.now());
      if (times.length === TOKENS) break;
    }
  } finally {
    sequence.dispose();
  }
  return { times, jsCpuMs: mainThreadCpuMs(process.pid) - cpu0 };
}

async function viaEngine(engine: LlamaEngine, prompt: string): Promise<Run> {
  const cpu0 = mainThreadCpuMs(process.pid);
  const generation = await engine.generate({
    kind: "completion",
    adapter: null,
    prompt,
    sampling: { temperature: 0, topP: 1, seed: 1, maxTokens: TOKENS, stop: [], frequencyPenalty: 0, presencePenalty: 0 },
  });
  const times: number[] = [];
  for await (const event of generation) if (event.type === "text") times.push(performance.now());
  return { times, jsCpuMs: mainThreadCpuMs(process.pid) - cpu0 };
}

async function viaHttp(server: StartedServer, prompt: string, measureCpu: boolean): Promise<Run> {
  const pid = server.child.pid!;
  const cpu0 = measureCpu ? mainThreadCpuMs(pid) : 0;
  const { chunkTimes } = await streamCompletion(server.origin, { prompt, maxTokens: TOKENS });
  return { times: chunkTimes, jsCpuMs: measureCpu ? mainThreadCpuMs(pid) - cpu0 : null };
}

const gaps = (times: readonly number[]): number[] => times.slice(1).map((t, i) => t - times[i]!);

const children = new Set<ChildProcess>();
const stopServers = (): void => {
  for (const child of children) child.kill("SIGINT");
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    stopServers();
    process.exit(130);
  });
}

const llama = await getLlama({ gpu: false, maxThreads: 0, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: MODEL });
const context = await model.createContext({ contextSize: CONTEXT, sequences: SEQUENCES, threads: THREADS, flashAttention: "auto" });
const engine = new LlamaEngine();
await engine.load({ modelPath: MODEL, threads: THREADS, contextSize: CONTEXT, sequencesPerContext: SEQUENCES, gpu: false, maxQueue: 1, queueTimeoutMs: 60_000 });
// The gateway runs in place with this process's one-thread pool (no re-run: it is our child, its pid is timed).
const { [REEXEC_MARKER]: _marker, ...gatewayEnv } = process.env;
const gateway = !LAYERS.includes("gateway") ? null : await startGateway({
  modelPath: MODEL,
  threads: THREADS,
  sequences: SEQUENCES,
  contextSize: CONTEXT,
  baseEnv: { ...gatewayEnv, UV_THREADPOOL_SIZE: "1" },
  extraEnv: { PRISM_ADAPTERS_DIR: ".cache/bench/no-adapters" },
  healthTimeoutMs: 120_000,
  onSpawn: (child) => children.add(child),
});
const llamaServer = values["llama-server"] && LAYERS.includes("llama-server")
  ? await startLlamaServer({
      binary: values["llama-server"],
      modelPath: MODEL,
      threads: THREADS,
      slots: SEQUENCES,
      contextSize: CONTEXT,
      stderr: "ignore",
      healthTimeoutMs: 120_000,
      onSpawn: (child) => children.add(child),
    })
  : null;

const runLayer = (layer: Layer, prompt: string): Promise<Run> | null => {
  switch (layer) {
    case "native":
      return viaAddon(context, model, completionPromptTokens(model, prompt), false);
    case "native-one-wake":
      return viaAddon(context, model, completionPromptTokens(model, prompt), true);
    case "node-llama-cpp":
      return viaEvaluate(context, completionPromptTokens(model, prompt));
    case "engine":
      return viaEngine(engine, prompt);
    case "gateway":
      return gateway ? viaHttp(gateway, prompt, true) : null;
    case "llama-server":
      return llamaServer ? viaHttp(llamaServer, prompt, false) : null;
  }
};

/** Per round, each layer's median gap between tokens (ms); rounds pair the layers for the ratios. */
const gapsByRound: Map<Layer, number>[] = [];
const perLayer = new Map<Layer, { tokPerS: number[]; cpuMs: number; cpuTokens: number }>();
const rounds = Number(values.rounds);
try {
  for (let round = 0; round < rounds; round++) {
    const prompt = distinctPrompt({ round, concurrency: 1, index: 0 }, Number(values["prompt-words"]));
    const roundGaps = new Map<Layer, number>();
    for (let k = 0; k < LAYERS.length; k++) {
      const layer = LAYERS[(k + round) % LAYERS.length]!;
      // llama-server's OpenMP threads spin on after a request; let them settle so they do not slow the next layer.
      await setTimeout(QUIET_MS);
      const run = await runLayer(layer, prompt);
      if (!run || run.times.length < 3) continue;
      const entry = perLayer.get(layer) ?? { tokPerS: [], cpuMs: 0, cpuTokens: 0 };
      roundGaps.set(layer, median(gaps(run.times)));
      entry.tokPerS.push(((run.times.length - 1) / (run.times.at(-1)! - run.times[0]!)) * 1000);
      if (run.jsCpuMs !== null) {
        entry.cpuMs += run.jsCpuMs;
        entry.cpuTokens += run.times.length;
      }
      perLayer.set(layer, entry);
    }
    gapsByRound.push(roundGaps);
    process.stderr.write(`round ${round + 1}/${rounds} done\n`);
  }
} finally {
  stopServers();
  await engine.dispose();
  await context.dispose();
  await model.dispose();
}

/** Geometric mean over rounds of llama-server's gap / this layer's gap in the same round (above 1: faster). */
function pairedRatio(layer: Layer): number | null {
  const ratios = gapsByRound.flatMap((g) => (g.has(layer) && g.has("llama-server") ? [g.get("llama-server")! / g.get(layer)!] : []));
  return ratios.length ? geometricMean(ratios) : null;
}

const rows = LAYERS.flatMap((layer) => {
  const entry = perLayer.get(layer);
  if (!entry) return [];
  const layerGaps = gapsByRound.flatMap((g) => (g.has(layer) ? [g.get(layer)!] : []));
  const ratio = pairedRatio(layer);
  return [{
    layer,
    interTokenMsP50: +median(layerGaps).toFixed(3),
    interTokenMsRange: [+Math.min(...layerGaps).toFixed(3), +Math.max(...layerGaps).toFixed(3)],
    decodeTokPerS: +median(entry.tokPerS).toFixed(1),
    jsThreadCpuMsPerToken: entry.cpuTokens > 0 ? +(entry.cpuMs / entry.cpuTokens).toFixed(3) : null,
    /** Paired per round: llama-server's inter-token time / this layer's (above 1: faster than llama-server). */
    vsLlamaServer: ratio === null ? null : +ratio.toFixed(3),
  }];
});
const result = { model: MODEL, threads: THREADS, tokens: TOKENS, rounds, promptWords: Number(values["prompt-words"]), layers: rows };
console.log(JSON.stringify(result, null, 2));
console.log("\nlayer             inter-token p50 (range) ms   decode tok/s   JS thread ms/token   vs llama-server (paired)");
for (const r of rows) {
  const range = `${r.interTokenMsP50.toFixed(2)} (${r.interTokenMsRange[0]!.toFixed(2)}–${r.interTokenMsRange[1]!.toFixed(2)})`;
  console.log(
    `${r.layer.padEnd(18)}${range.padEnd(29)}${r.decodeTokPerS.toFixed(1).padEnd(15)}${(r.jsThreadCpuMsPerToken?.toFixed(3) ?? "—").padEnd(21)}${r.vsLlamaServer?.toFixed(3) ?? "—"}`,
  );
}
if (values.json) await writeFileAtomic(values.json, JSON.stringify(result, null, 2));
process.exit(0);
