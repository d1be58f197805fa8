/**
 * Shared pipeline of the two text routes: route the request, admit it on the engine, then answer as one
 * JSON body or as an SSE stream. Client disconnects abort the engine's generation (freeing its sequence).
 */
import { randomBytes } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Engine, FinishReason, GenerateRequest, GeneratedTokenLogprob, GenerationEvent, ToolCall, Usage } from "../engine/types.js";
import type { RouteDecision } from "../routing/types.js";
import { mapError } from "./error-mapping.js";
import { observeGeneration } from "./plugins/operations.js";
import { SseWriter } from "./sse.js";

export function completionId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString("hex")}`;
}

export function routeHeaders(decision: RouteDecision): Record<string, string> {
  const headers: Record<string, string> = { "x-prism-route": decision.route, "x-prism-intent": decision.intent };
  if (decision.gateScore !== null) headers["x-prism-gate-score"] = decision.gateScore.toFixed(4);
  if (decision.arm !== null) headers["x-prism-arm"] = decision.arm;
  return headers;
}

export function prismField(decision: RouteDecision): Record<string, unknown> {
  return {
    route: decision.route,
    adapter: decision.adapter,
    gate_score: decision.gateScore,
    intent: decision.intent,
    arm: decision.arm,
    experiment: decision.experiment,
    reason: decision.reason,
  };
}

/** An AbortController fired when the client goes away before the response is complete. */
export function abortOnDisconnect(request: FastifyRequest, reply: FastifyReply): AbortController {
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  request.raw.on("aborted", () => controller.abort());
  return controller;
}

export interface Collected {
  text: string;
  toolCalls: ToolCall[];
  logprobs: GeneratedTokenLogprob[];
  finishReason: FinishReason;
  usage: Usage;
}

export async function collect(generation: AsyncIterable<GenerationEvent>): Promise<Collected> {
  const out: Collected = { text: "", toolCalls: [], logprobs: [], finishReason: "stop", usage: { promptTokens: 0, completionTokens: 0 } };
  for await (const event of generation) {
    if (event.type === "text") {
      out.text += event.text;
      if (event.logprobs) out.logprobs.push(...event.logprobs);
    } else if (event.type === "tool_calls") out.toolCalls.push(...event.calls);
    else if (event.type === "done") {
      out.finishReason = event.finishReason;
      out.usage = event.usage;
    }
  }
  return out;
}

export interface StreamShape {
  /** Chunk for a text/tool event, or null to skip. */
  chunk(event: Extract<GenerationEvent, { type: "text" | "tool_calls" }>): unknown;
  /** First chunk sent as soon as a sequence is assigned (chat: the role delta), or null. */
  first(): unknown;
  final(finishReason: FinishReason): unknown;
  usage(usage: Usage): unknown;
  includeUsage: boolean;
  /** What a finished stream is recorded as for A/B (same event as a non-streaming body); omit to skip. */
  record?: { id: string; model: string; prism: Record<string, unknown> };
}

/**
 * Streams a generation. Errors before the first event (queue deadline, abort while queued) are thrown to the
 * error handler as normal responses; later ones become an `error` object in the stream.
 */
export async function streamGeneration(
  engine: Engine,
  request: GenerateRequest,
  reply: FastifyReply,
  headers: Record<string, string>,
  shape: StreamShape,
  keepAliveMs: number,
): Promise<void> {
  const generation = await engine.generate(request);
  // Timed by the telemetry plugin (spans, inter-token latency, token budget); prompt-token limit checked.
  const iterator = observeGeneration(reply.request, generation)[Symbol.asyncIterator]();
  const first = await iterator.next(); // `started`: admitted and holding a sequence
  reply.hijack();
  const sse = new SseWriter(reply.raw);
  sse.open(200, headers);
  const firstChunk = shape.first();
  if (firstChunk !== null) sse.data(firstChunk);
  let waitingForToken = !first.done;
  const keepAlive = setInterval(() => {
    if (waitingForToken) sse.comment();
  }, keepAliveMs);
  try {
    while (true) {
      const next = await iterator.next();
      if (next.done) break;
      const event = next.value;
      if (event.type === "text" || event.type === "tool_calls") {
        waitingForToken = false;
        const chunk = shape.chunk(event);
        if (chunk !== null) sse.data(chunk);
      } else if (event.type === "done") {
        sse.data(shape.final(event.finishReason));
        if (shape.includeUsage) sse.data(shape.usage(event.usage));
        // Set by the feedback routes (src/server/routes/feedback.ts) when A/B recording is on.
        if (shape.record) reply.request.recordStreamedCompletion?.({ ...shape.record, usage: usageBody(event.usage) }, reply.elapsedTime);
      }
    }
    sse.done();
  } catch (error) {
    if (!sse.closed) {
      sse.data(mapError(error).body);
      sse.end();
    }
  } finally {
    clearInterval(keepAlive);
    await iterator.return?.(undefined);
  }
}

export const usageBody = (usage: Usage) => ({
  prompt_tokens: usage.promptTokens,
  completion_tokens: usage.completionTokens,
  total_tokens: usage.promptTokens + usage.completionTokens,
  prompt_tokens_details: { cached_tokens: usage.cachedPromptTokens ?? 0 },
});
