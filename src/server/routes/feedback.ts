/**
 * A/B feedback: `POST /v1/feedback {id, score|thumbs, comment?}` ties a rating to a response id
 * (unknown id → 404 in OpenAI's error shape), and the hook that records every non-streaming
 * completion (id, route, arm, latency, tokens) into the event store.
 *
 * Streaming responses are written on a hijacked reply, out of reach of fastify hooks: the server's
 * stream path calls `recordCompletion` itself.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { feedbackRequestSchema, type ResponseEvent } from "../../ab/events.js";
import type { EventRecorder } from "../../ab/recorder.js";
import { NotFoundError } from "../../errors.js";

const RECORDED_URLS = new Set(["/v1/chat/completions", "/v1/completions"]);

declare module "fastify" {
  interface FastifyRequest {
    /**
     * Records a finished streamed completion (body shaped like the non-streaming one) for A/B; set on the
     * completion routes when feedback routes are registered. The SSE path calls it: hijacked replies skip onSend.
     */
    recordStreamedCompletion: ((body: CompletionBody, latencyMs: number) => void) | null;
  }
}

export interface CompletionBody {
  id?: unknown;
  model?: unknown;
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
  prism?: { route?: unknown; adapter?: unknown; arm?: unknown; experiment?: unknown } | null;
}

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const int = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? Math.max(0, Math.round(v)) : 0);

/** Builds the event for a completion response body; null when it is not one. */
export function completionEvent(body: CompletionBody, request: Pick<FastifyRequest, "headers">, latencyMs: number, keyId: string | null): ResponseEvent | null {
  const id = str(body.id);
  if (!id || !body.prism) return null;
  const headerUser = request.headers["x-prism-user"];
  return {
    id,
    createdAt: Date.now(),
    experiment: str(body.prism.experiment),
    arm: str(body.prism.arm),
    route: str(body.prism.route) ?? "base",
    adapter: str(body.prism.adapter),
    model: str(body.model) ?? "",
    keyId,
    user: typeof headerUser === "string" ? headerUser : null,
    latencyMs,
    promptTokens: int(body.usage?.prompt_tokens),
    completionTokens: int(body.usage?.completion_tokens),
  };
}

export interface FeedbackRoutesOptions {
  readonly recorder: EventRecorder;
  /** The API key id of a request (set by the auth plugin), for per-key reports. */
  readonly keyIdOf?: (request: FastifyRequest) => string | null;
}

export function registerFeedbackRoutes(app: FastifyInstance, options: FeedbackRoutesOptions): void {
  const { recorder } = options;
  app.decorateRequest("recordStreamedCompletion", null);
  app.addHook("onRequest", async (request) => {
    if (request.method !== "POST" || !RECORDED_URLS.has(request.routeOptions.url ?? "")) return;
    request.recordStreamedCompletion = (body, latencyMs) => {
      const event = completionEvent(body, request, latencyMs, options.keyIdOf?.(request) ?? null);
      if (event) recorder.record(event);
    };
  });
  app.addHook("onSend", async (request, reply, payload) => {
    if (request.method !== "POST" || !RECORDED_URLS.has(request.routeOptions.url ?? "") || reply.statusCode !== 200) return payload;
    if (typeof payload !== "string") return payload;
    try {
      const event = completionEvent(JSON.parse(payload) as CompletionBody, request, reply.elapsedTime, options.keyIdOf?.(request) ?? null);
      if (event) recorder.record(event);
    } catch {
      // Not JSON: nothing to record.
    }
    return payload;
  });

  app.post("/v1/feedback", async (request) => {
    const body = feedbackRequestSchema.parse(request.body);
    const accepted = await recorder.feedback({
      responseId: body.id,
      score: body.score ?? (body.thumbs === "up" ? 1 : 0),
      comment: body.comment ?? null,
      createdAt: Date.now(),
    });
    if (!accepted) throw new NotFoundError(`No response with id '${body.id}' was recorded.`);
    return { id: body.id, object: "feedback", accepted: true };
  });
}
