/** What route handlers are built from (passed explicitly; no globals). */
import type { PrismConfig } from "../config/schema.js";
import type { Engine, SamplingParams } from "../engine/types.js";
import { ModelNotFoundError, UnavailableError } from "../errors.js";
import type { RequestRouter, RouteDecision, RouteInput } from "../routing/types.js";
import type { ModelCatalog } from "./model-catalog.js";

export interface Lifecycle {
  /** Set on SIGTERM: health turns 503, new work is refused. */
  draining: boolean;
  /** Start-up work still running after the model loaded (e.g. "Loading adapters"): 503 until cleared. */
  startup?: string | null;
}

export interface RouteContext {
  readonly config: PrismConfig;
  readonly engine: Engine;
  readonly router: RequestRouter;
  readonly catalog: ModelCatalog;
  readonly lifecycle: Lifecycle;
}

export function assertServing(ctx: RouteContext): void {
  if (ctx.lifecycle.draining) throw new UnavailableError("the server is shutting down");
  if (ctx.engine.state !== "ready") throw new UnavailableError(ctx.engine.state === "loading" ? "Loading model" : "the model is not available");
  if (ctx.lifecycle.startup) throw new UnavailableError(ctx.lifecycle.startup);
}

/** Validates the model id, then asks the router. */
export async function decideRoute(ctx: RouteContext, input: RouteInput): Promise<RouteDecision> {
  ctx.catalog.get(input.model);
  const decision = await ctx.router.decide(input);
  if (decision.adapter !== null && !ctx.engine.listAdapters().some((a) => a.name === decision.adapter)) {
    // A persona known to the router but without a LoRA is served by prompt only (personaPrompt).
    if (decision.personaPrompt === null) throw new ModelNotFoundError(input.model);
    return { ...decision, adapter: null };
  }
  return decision;
}

export interface SamplingFields {
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
  presence_penalty?: number | null | undefined;
  frequency_penalty?: number | null | undefined;
  seed?: number | null | undefined;
  stop?: string | string[] | null | undefined;
}

export function samplingOf(body: SamplingFields, maxTokens: number | null): SamplingParams {
  return {
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? 1,
    presencePenalty: body.presence_penalty ?? 0,
    frequencyPenalty: body.frequency_penalty ?? 0,
    seed: body.seed ?? undefined,
    maxTokens,
    stop: body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop,
  };
}
