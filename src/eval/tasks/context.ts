/**
 * What every task needs: the target and judge endpoints, the cache, and how a mode turns into a
 * request (model name and optional persona system message). Both calls go through the cache, keyed
 * by server identity + model + mode + messages + sampling parameters.
 */
import type { AnswerCache } from "../answer-cache.js";
import { cacheKey } from "../answer-cache.js";
import type { ChatEndpoint, ChatMessage, ChatRequest, ChatResult } from "../client.js";
import type { PersonaName } from "../personas.js";
import { PERSONAS } from "../personas.js";
import type { EvalMode } from "../results.js";

export interface ModeModels {
  /** Base model name, e.g. `prism:base`. */
  base: string;
  /** Routed model name, e.g. `prism`. */
  routed: string;
  /** Forced-adapter model for persona mode (`prism:<pack>`); null = persona prompt on the base model. */
  personaAdapter: string | null;
}

export interface TaskContext {
  target: ChatEndpoint;
  judge: ChatEndpoint;
  judgeModel: string;
  cache: AnswerCache;
  serverIdentity: string;
  judgeIdentity: string;
  models: ModeModels;
  seed: number;
  temperature: number;
  maxTokens: number;
  /** Counts answers served from the cache (for the run summary). */
  onCacheHit?: () => void;
}

export interface ModeRequest {
  model: string;
  /** Persona name when the harness injects the persona as the system message. */
  persona: string | null;
  system: string | null;
}

export function modeRequest(models: ModeModels, mode: EvalMode, persona: PersonaName): ModeRequest {
  switch (mode) {
    case "base":
      return { model: models.base, persona: null, system: null };
    case "routed":
      return { model: models.routed, persona: null, system: null };
    case "persona":
      return models.personaAdapter === null
        ? { model: models.base, persona, system: PERSONAS[persona] }
        : { model: models.personaAdapter, persona: null, system: null };
  }
}

export function withSystem(request: ModeRequest, messages: ChatMessage[]): ChatMessage[] {
  return request.system === null ? messages : [{ role: "system", content: request.system }, ...messages];
}

type Call = Omit<ChatRequest, "seed" | "temperature"> & { temperature?: number };

async function cachedCall(
  ctx: TaskContext,
  endpoint: ChatEndpoint,
  identity: string,
  kind: string,
  mode: EvalMode | null,
  call: Call,
): Promise<ChatResult> {
  const request: ChatRequest = { ...call, seed: ctx.seed, temperature: call.temperature ?? ctx.temperature };
  const key = cacheKey({ v: 1, kind, identity, mode, ...request });
  const { value, cached } = await ctx.cache.through(key, () => endpoint.chat(request));
  if (cached) ctx.onCacheHit?.();
  return value;
}

/** A request to the evaluated server in `mode`. */
export function answer(ctx: TaskContext, mode: EvalMode, call: Call): Promise<ChatResult> {
  return cachedCall(ctx, ctx.target, ctx.serverIdentity, "answer", mode, call);
}

/** A greedy request to the judge. */
export function judge(ctx: TaskContext, call: Omit<Call, "model" | "temperature">): Promise<ChatResult> {
  return cachedCall(ctx, ctx.judge, ctx.judgeIdentity, "judge", null, { ...call, model: ctx.judgeModel, temperature: 0 });
}

export function sumUsage(results: readonly ChatResult[]): { promptTokens: number; completionTokens: number; latencyMs: number } {
  let promptTokens = 0;
  let completionTokens = 0;
  let latencyMs = 0;
  for (const r of results) {
    promptTokens += r.promptTokens;
    completionTokens += r.completionTokens;
    latencyMs += r.latencyMs;
  }
  return { promptTokens, completionTokens, latencyMs };
}

export function routeFields(first: ChatResult): { route: string | null; adapterApplied: boolean | null; gateScore: number | null } {
  return {
    route: first.route,
    adapterApplied: first.route === null ? null : first.route !== "base",
    gateScore: first.gateScore,
  };
}

/** The record fields of a task item answered by one request (MMLU, safety): who answered, how it was routed, cost. */
export function singleAnswerFields(request: ModeRequest, result: ChatResult) {
  return {
    model: request.model,
    persona: request.persona,
    ...routeFields(result),
    requests: 1,
    promptTokens: result.promptTokens,
    completionTokens: result.completionTokens,
    latencyMs: result.latencyMs,
  };
}
