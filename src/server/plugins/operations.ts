import type { FastifyInstance, FastifyRequest } from "fastify";
import type { PrismConfig } from "../../config/schema.js";
import type { Generation, GenerationEvent } from "../../engine/types.js";
import type { RouteDecision } from "../../routing/types.js";
import type { Telemetry } from "../../telemetry/telemetry.js";
import authPlugin from "./auth.js";
import type { ApiKeyStore } from "./auth-keys.js";
import corsPlugin from "./cors.js";
import limitsPlugin from "./limits.js";
import rateLimitPlugin from "./rate-limit.js";
import telemetryPlugin from "./telemetry.js";

export interface OperationsDeps {
  readonly config: Pick<PrismConfig, "auth" | "limits" | "cors">;
  readonly telemetry: Telemetry;
  /** From `loadApiKeys(config.auth, process.env)`. */
  readonly keys: ApiKeyStore;
  /** Token-budget clock (tests). */
  readonly now?: () => number;
}

/**
 * Registers the operations plugins in the one order that works, before any route:
 * telemetry (so even refused requests are traced and counted) → CORS (so refusals carry CORS headers)
 * → auth (sets `request.apiKey`) → request rate + token budget (per key) → body/message/token/stream limits.
 */
export async function registerOperations(app: FastifyInstance, deps: OperationsDeps): Promise<void> {
  const { config, telemetry, keys } = deps;
  const metrics = telemetry.metrics;
  await app.register(telemetryPlugin, { telemetry });
  await app.register(corsPlugin, { config: config.cors });
  await app.register(authPlugin, { keys, config: config.auth, metrics });
  await app.register(rateLimitPlugin, {
    limits: config.limits,
    auth: config.auth,
    metrics,
    ...(deps.now !== undefined ? { now: deps.now } : {}),
  });
  await app.register(limitsPlugin, { limits: config.limits, metrics });
}

/**
 * Route-handler side of the operations plugins, safe to call when they are not registered:
 * `observeGeneration` enforces `limits.maxPromptTokens` on the admitted generation (cancelling it when over)
 * and times its events (spans, inter-token latency, usage for token budgets); `observeDecision` runs the
 * router in the gate span and records the decision on the trace and metrics.
 */
export function observeGeneration(request: FastifyRequest, generation: Generation): AsyncIterable<GenerationEvent> {
  try {
    request.limits?.checkPromptTokens(generation.promptTokens);
  } catch (error) {
    // The engine only releases a sequence from inside the iteration: a generator closed before its first
    // next() never runs its cleanup. So start it (waits for the sequence) and close it right away.
    const iterator = generation[Symbol.asyncIterator]();
    void iterator.next().then(
      () => iterator.return?.(undefined),
      () => undefined,
    );
    throw error;
  }
  return request.telemetry?.track(generation) ?? generation;
}

export function observeDecision(request: FastifyRequest, decide: () => Promise<RouteDecision>): Promise<RouteDecision> {
  return request.telemetry?.decide(decide) ?? decide();
}

/** Runs `fn` in a child span of the request (e.g. SPAN.validation), or just runs it without telemetry. */
export function observeSpan<T>(request: FastifyRequest, name: string, fn: () => T): Promise<T> {
  return request.telemetry?.span(name, fn) ?? Promise.resolve().then(fn);
}
