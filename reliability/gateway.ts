/**
 * A live gateway for the reliability suites: the real `buildApp` with the operations plugins (auth, rate and
 * body limits, telemetry), the real node-llama-cpp engine on a given GGUF, listening on port 0. Built from
 * explicit options so the short CI tests and the long `npm run reliability` runs share one composition.
 */
import os from "node:os";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { loadConfig } from "../src/config/load.js";
import type { PrismConfig } from "../src/config/schema.js";
import { LlamaEngine } from "../src/engine/llama-engine.js";
import { engineLoadOptions } from "../src/engine/load-options.js";
import { buildApp } from "../src/server/app.js";
import { ApiKeyStore } from "../src/server/plugins/auth-keys.js";
import { registerOperations } from "../src/server/plugins/operations.js";
import { Telemetry } from "../src/telemetry/telemetry.js";

export interface GatewayOptions {
  readonly modelPath: string;
  /** Adapters to load as `prism:<name>` personas. */
  readonly adapters?: readonly { readonly name: string; readonly path: string }[];
  /** Compute threads; default `reliabilityThreads()`. */
  readonly threads?: number;
  readonly sequences?: number;
  readonly maxQueue?: number;
  readonly contextSize?: number;
  readonly queueTimeoutMs?: number;
  /** When set, auth is on and this key is required (header-abuse fuzzing needs auth in the path). */
  readonly apiKey?: string;
  /** Register the operations plugins (auth, limits, rate limits, telemetry). Default true. */
  readonly operations?: boolean;
  /** Config overrides merged into the sections (e.g. `{ limits: { requestsPerMinute: null } }`). */
  readonly overrides?: Record<string, Record<string, unknown>>;
}

export interface LiveGateway {
  readonly url: string;
  readonly engine: LlamaEngine;
  readonly app: FastifyInstance;
  readonly config: PrismConfig;
  /** Authorization headers a well-behaved client sends (empty without a key). */
  readonly authHeaders: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Compute threads for suite gateways: `PRISM_RELIABILITY_THREADS`, else the real core count. Tests that run
 * beside other vitest workers pass 1: llama.cpp's spinning barriers make oversubscribed cores ~100x slower
 * (measured: 30 tokens of the fixture model in 62-138 ms with 1 thread, 11 s with 2, at load average 16).
 */
export function reliabilityThreads(fallback = os.availableParallelism()): number {
  const fromEnv = Number(process.env.PRISM_RELIABILITY_THREADS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : fallback;
}

export async function startGateway(options: GatewayOptions): Promise<LiveGateway> {
  const overrides = options.overrides ?? {};
  const config = loadConfig({
    env: {},
    overrides: {
      ...overrides,
      model: { contextSize: options.contextSize ?? 512, sequences: options.sequences ?? 2, ...overrides.model },
      engine: { maxQueue: options.maxQueue ?? 4, queueTimeoutMs: options.queueTimeoutMs ?? 30_000, ...overrides.engine },
      // The suites measure the engine's own admission control; per-key rate limits would hide it.
      limits: { requestsPerMinute: null, maxConcurrentStreamsPerKey: null, ...overrides.limits },
    },
  });
  const engine = new LlamaEngine();
  await engine.load(engineLoadOptions(config, options.modelPath, { threads: options.threads ?? reliabilityThreads(), gpu: false }));
  for (const adapter of options.adapters ?? []) await engine.loadAdapter(adapter.name, adapter.path, 1);

  const telemetry = new Telemetry({ config: { ...config.telemetry, processMetrics: false }, env: {} });
  telemetry.attachEngine(engine);
  const withOperations = options.operations ?? true;
  const app = await buildApp({
    config,
    engine,
    registerPlugins: withOperations
      ? (instance) =>
          registerOperations(instance, {
            config,
            telemetry,
            keys: new ApiKeyStore(options.apiKey ? [{ id: "reliability", key: options.apiKey, admin: false }] : []),
          })
      : undefined,
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    url,
    engine,
    app,
    config,
    authHeaders: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
    async close() {
      await app.close();
      await telemetry.shutdown();
      await engine.dispose();
    },
  };
}

/** Waits until the engine reports no active sequence and an empty queue, or the deadline passes. */
export async function waitForIdle(engine: LlamaEngine, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const stats = engine.stats();
    if (stats.activeSequences === 0 && stats.queueDepth === 0) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}
